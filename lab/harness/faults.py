"""Faults of the lab's stand-in (`standin`, lab/site.py) and what Monit does about them:
the timings and the mail. Shared by tests/host/test_monit.py and bench/monit_reaction.py."""

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass

from holdfast.status import monit_summary
from lab.harness.probes import Mailboxes, fastcgi, wait_for
from lab.site import standin_site

# Seconds an alert takes from Monit through the relay into a mailbox.
DELIVERY = 15
MONIT_LOG = "/var/log/monit.log"  # Monit's log on every host (templates/monit/etc/monit/monitrc.j2)
# What fills a lab host's disk (its own: lab/image.py), as a runaway log would.
FILL_FILE = "/var/tmp/holdfast-drill-fill"
LAB_DISK_AT_MOST = 16  # GiB: a larger / is not a lab host's own disk, and is never filled


def fill_script() -> str:
    """On a lab host: fill its own disk to the last byte (refused on a / larger than a lab
    host's disk: this machine's)."""
    available = "$(df --output=avail -B1 / | tail -1)"
    return (f'[ "$(df --output=size -BG / | tail -1 | tr -dc 0-9)" -le {LAB_DISK_AT_MOST} ] '
            f"|| {{ echo '/ is larger than a lab host disk: not filled' >&2; exit 1; }}; "
            f"fallocate -l $(({available} - 1048576)) {FILL_FILE} && "
            f"{{ head -c 8M /dev/zero >> {FILL_FILE} 2>/dev/null; [ {available} -lt 65536 ]; }}")


@contextmanager
def full_disk(host):
    """The lab host's disk full (``fill_script``) meanwhile, and freed on the way out."""
    try:
        host.check_output(fill_script())
        yield
    finally:
        host.check_output(f"rm -f {FILL_FILE}")


def summary(host) -> dict[str, str]:
    """Status of every check `monit summary` lists, by check name."""
    return monit_summary(host.check_output("monit summary -B"))


def status(host, check: str) -> dict[str, str]:
    """`monit status <check>` as a dict ('status', 'monitoring status', 'pid', ...)."""
    text = host.check_output(f"monit status {check} -B")
    return {match[1]: match[2] for match in re.finditer(r"^  (\S.*?)\s{2,}(\S.*)$", text, re.M)}


@dataclass
class StandIn:
    """The service `standin` breaks (the backend of the first FastCGI site, lab/site.py)."""

    host: object
    name: str
    unit: str
    host_name: str

    @classmethod
    def of(cls, host, settings) -> "StandIn":
        name = standin_site(settings).backend.service
        return cls(host, name, settings.services[name].unit, host.check_output("hostname"))

    def main_pid(self) -> int:
        """systemd's main PID of the unit, 0 while it is not active."""
        state = self.host.check_output(f"systemctl show -p ActiveState -p MainPID --value {self.unit}").split()
        return int(state[0]) if state[1:] == ["active"] else 0

    def subject(self, event: str) -> str:
        """Subject of Monit's alert mail (templates/monit/etc/monit/monitrc.j2)."""
        return f"[{self.host_name}] {self.name}: {event}"

    def monit_started_ago(self) -> int:
        """Seconds since Monit last started or restarted the service, by its log (a long time
        if it never did)."""
        last = f"grep -E \"'{self.name}' (re)?start: \" {MONIT_LOG} | tail -1 | cut -c2-25"
        return int(self.host.check_output(
            f'last=$({last}); [ -n "$last" ] && echo $(( $(date +%s) - $(date -d "$last" +%s) )) || echo 86400'))

    def quiet(self, settings, restarts_forgotten: bool = True) -> None:
        """Wait until it runs and Monit says it is OK (it may be recovering from an earlier
        fault) and, with ``restarts_forgotten``, until no restart from an earlier fault counts
        any more: Monit's last start or restart of it (the ones its restart-loop rule counts;
        a restart by anything else, e.g. `standin heal`, is not) longer ago than the restart
        window. That rule alerts the escalation tier: a test that reads only the first tier,
        or a restart's timing, need not wait for it."""
        rules = settings.services[self.name].supervision
        settled = (rules.restart_window + 1) * settings.monit.cycle if restarts_forgotten else 0

        def calm() -> bool:
            return self.main_pid() and (not settled or self.monit_started_ago() > settled) \
                and summary(self.host).get(self.name) == "OK"

        if not wait_for(calm, timeout=settled + rules.start_timeout + 4 * settings.monit.cycle, interval=2):
            raise TimeoutError(f"{self.name} on {self.host_name} did not settle: {summary(self.host).get(self.name)}")

    def restarted_after(self, before: int, since: float, timeout: float) -> float | None:
        """Seconds from ``since`` until a new main process runs (None: not within ``timeout``)."""
        if wait_for(lambda: self.main_pid() not in (0, before), timeout=timeout):
            return round(time.monotonic() - since, 1)
        return None


def hang_every_worker(standin: StandIn, site) -> None:
    """`standin hang` until the backend itself answers no more: every worker asleep, its
    master still the same running process (a backend that is down answers nothing too)."""
    master = standin.main_pid()
    for _ in range(50):
        standin.host.check_output("standin hang")
        if not fastcgi(standin.host, site, site.health_path, timeout=2):
            assert standin.main_pid() == master != 0, f"{standin.unit} is down (main PID {master}), not hung"
            return
    raise AssertionError("the backend still answers after 50 hung requests")


@dataclass
class Fault:
    """One fault: when it began, the tiers' mailboxes opened just before, and how long
    until the service ran again (None: not in time)."""

    standin: StandIn
    began: float
    tier1: Mailboxes
    tier2: Mailboxes
    recovered_after: float | None = None

    def mail_after(self, mailboxes: Mailboxes, event: str, deadline: float, since: float | None = None) -> float | None:
        """Seconds from ``since`` (default: the fault) until every mailbox has the alert for
        ``event``; None if not within ``deadline`` seconds."""
        since = since or self.began
        subject = self.standin.subject(event)
        if wait_for(lambda: not mailboxes.waiting_for(subject), timeout=max(deadline - (time.monotonic() - since), 0),
                    interval=2):
            return round(time.monotonic() - since, 1)
        return None

    def mailed(self, mailboxes: Mailboxes, event: str, deadline: float, since: float | None = None) -> list[str]:
        """Addresses still without the alert ``deadline`` seconds after ``since`` (the fault)."""
        self.mail_after(mailboxes, event, deadline, since)
        return mailboxes.waiting_for(self.standin.subject(event))


def begin_fault(standin: StandIn, settings, relay, command: str, relay_down: bool = False,
                restarts_forgotten: bool = True) -> tuple[Fault, int]:
    """Run ``standin <command>`` once the stand-in is quiet (``StandIn.quiet``; with the
    relay's MTA stopped first if ``relay_down``); returns the fault and the main PID before it."""
    standin.quiet(settings, restarts_forgotten)
    plan = settings.escalation
    tier1 = Mailboxes(relay, plan.tier_emails(settings.monit.alert_tier))
    tier2 = Mailboxes(relay, [e for e in plan.tier_emails(settings.monit.escalation_tier) if e not in tier1.paths])
    before = standin.main_pid()
    if relay_down:
        relay.check_output("systemctl stop exim4")
    standin.host.check_output(f"standin {command}")
    return Fault(standin, time.monotonic(), tier1, tier2), before




def runaway_deadline(settings, rules) -> float:
    """Seconds from a loop's start to the restart: Monit first measures a process's CPU over
    a whole cycle, then counts cpu_cycles readings above the limit within cpu_window cycles,
    then restarts it (up to start_timeout)."""
    return (rules.cpu_window + 2) * settings.monit.cycle + rules.start_timeout


def escalation_deadline(settings, rules) -> float:
    """Seconds from a crash loop's start to the escalation mail: one cycle to notice, then
    restart_limit failed starts, each waiting start_timeout, a cycle apart."""
    return settings.monit.cycle + rules.restart_limit * (rules.start_timeout + settings.monit.cycle) + DELIVERY


def unmonitor(host, check: str, timeout: float = 30) -> None:
    """``monit unmonitor CHECK``, returning once Monit says the check is not monitored. Monit
    carries the request out asynchronously (and refuses it while reloading): a Monit in
    mid-cycle could restart what the test stops next. The request is repeated until done."""

    def left_alone() -> bool:
        host.run(f"monit unmonitor {check}")
        return "Not monitored" in host.run(f"monit status {check}").stdout

    if not wait_for(left_alone, timeout, interval=1):
        raise AssertionError(f"Monit still monitors {check} after {timeout} s of asking it not to")


@contextmanager
def monit_off(host, check: str):
    """Monit leaves ``check`` alone meanwhile (a test breaks it on purpose)."""
    unmonitor(host, check)
    try:
        yield
    finally:
        host.check_output(f"monit monitor {check}")


def unsupervised(host, settings):
    """Monit leaves the stand-in's service alone meanwhile: for tests that make it run away
    on purpose to measure something else (the slice holding it)."""
    return monit_off(host, StandIn.of(host, settings).name)
