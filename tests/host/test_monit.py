"""Monit supervises every declared service: what dies or runs away is restarted and the
escalation plan's first tier is mailed; a restart loop is escalated to the next tier while
Monit keeps watching; a configuration Monit rejects never goes live.

The disruptive tests break the lab's stand-in (`standin`, lab/site.py) and heal it after.
"""

import re
import secrets
import time
from dataclasses import dataclass

import pytest

from holdfast import monit
from lab.site import STATE_DIR as STANDIN_STATE_DIR
from tests.conftest import REPO, edit
from tests.deploys import run_deploy
from tests.host.probes import Mailboxes, wait_for

# Seconds an alert takes from Monit through the relay into a mailbox.
DELIVERY = 15


def summary(host) -> dict[str, str]:
    """Status of every check `monit summary` lists, by check name."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in host.check_output("monit summary -B").splitlines()[2:]]
    return {row[0]: row[1] for row in rows if len(row) == 3}


def status(host, check: str) -> dict[str, str]:
    """`monit status <check>` as a dict ('status', 'monitoring status', 'pid', ...)."""
    text = host.check_output(f"monit status {check} -B")
    return {match[1]: match[2] for match in re.finditer(r"^  (\S.*?)\s{2,}(\S.*)$", text, re.M)}


def emails(settings, tier_name: str) -> list[str]:
    tier = next(tier for tier in settings.escalation.tiers if tier.name == tier_name)
    return [contact.email for contact in settings.escalation.tier_contacts(tier)]


def ok_within(host, settings, check: str) -> str | None:
    """The check's status once it is OK, polled for a few cycles (it may be recovering from
    an earlier test); its last status if it never is."""
    wait_for(lambda: summary(host).get(check) == "OK", timeout=4 * settings.monit.cycle)
    return summary(host).get(check)


def test_monit_is_running_and_enabled(host):
    service = host.service("monit")
    assert service.is_running and service.is_enabled


def test_live_configuration_is_valid(host):
    assert host.run("monit -t").rc == 0


def test_configuration_and_credentials_are_root_only(host, settings):
    paths = [file.path for file in monit.config_files(settings, login=None)] + [monit.HTTPD_USERS]
    owners = {path: (host.file(path).user, host.file(path).group, host.file(path).mode) for path in paths}
    assert owners == {path: ("root", "root", 0o600) for path in paths}


def test_web_interface_listens_on_loopback_only(host, settings):
    listening = host.check_output(f"ss -Hltn 'sport = :{settings.monit.httpd_port}' | awk '{{print $4}}'")
    assert listening.split() == [f"127.0.0.1:{settings.monit.httpd_port}"]


def test_declared_service_is_listed_and_ok(host, settings, service_name):
    assert ok_within(host, settings, service_name) == "OK"


def test_site_end_to_end_check_is_ok(host, settings, site_name):
    assert ok_within(host, settings, f"site-{site_name}") == "OK"


def test_system_daemons_are_ok(host, settings):
    daemons = [check.name for check in monit.process_checks(settings) if check.name not in settings.services]
    assert {name: ok_within(host, settings, name) for name in daemons} == dict.fromkeys(daemons, "OK")


def test_host_and_filesystems_are_watched(host, settings):
    watched = summary(host)
    expected = [host.check_output("hostname"), *map(monit.filesystem_check_name, settings.monit.filesystems.paths)]
    assert [name for name in expected if name not in watched] == []


# --- disruptive: the stand-in fails, Monit acts, the tiers are mailed ------------------


@pytest.fixture(scope="module")
def relay(targets, settings):
    """The mail relay (the lab's sink), when it is an inventory host."""
    if settings.mail.relay not in targets:
        pytest.skip(f"the mail relay {settings.mail.relay} is not an inventory host")
    return targets[settings.mail.relay].testinfra


@dataclass
class StandIn:
    """The service `standin` breaks (the backend of the first FastCGI site, lab/site.py)."""

    host: object
    name: str
    unit: str
    host_name: str

    @classmethod
    def of(cls, host, settings) -> "StandIn":
        if not settings.disposable:  # module fixtures run before the per-test disposable check
            pytest.skip("read-only run: not a disposable host")
        name = next(site.backend.service for site in settings.sites.values() if site.backend.kind == "fastcgi")
        return cls(host, name, settings.services[name].unit, host.check_output("hostname"))

    def main_pid(self) -> int:
        """systemd's main PID of the unit, 0 while it is not active."""
        state = self.host.check_output(f"systemctl show -p ActiveState -p MainPID --value {self.unit}").split()
        return int(state[0]) if state[1:] == ["active"] else 0

    def subject(self, event: str) -> str:
        """Subject of Monit's alert mail (templates/monit/etc/monit/monitrc.j2)."""
        return f"[{self.host_name}] {self.name}: {event}"

    def quiet(self, settings) -> None:
        """Wait until no restart from an earlier fault counts any more: running, OK, and up
        for longer than the restart window."""
        rules = settings.services[self.name].supervision
        settled = (rules.restart_window + 1) * settings.monit.cycle

        def calm() -> bool:
            pid = self.main_pid()
            uptime = pid and int(self.host.check_output(f"ps -o etimes= -p {pid} || echo 0"))
            return uptime > settled and summary(self.host).get(self.name) == "OK"

        assert wait_for(calm, timeout=settled + rules.start_timeout + 4 * settings.monit.cycle, interval=2)

    def restarted_after(self, before: int, since: float, timeout: float) -> float | None:
        """Seconds from ``since`` until a new main process runs (None: not within ``timeout``)."""
        if wait_for(lambda: self.main_pid() not in (0, before), timeout=timeout):
            return round(time.monotonic() - since, 1)
        return None


@dataclass
class Fault:
    """One fault: when it began, the tiers' mailboxes opened just before, and how long
    until the service ran again (None: not in time)."""

    standin: StandIn
    began: float
    tier1: Mailboxes
    tier2: Mailboxes
    recovered_after: float | None = None

    def mailed(self, mailboxes: Mailboxes, event: str, deadline: float, since: float | None = None) -> list[str]:
        """Addresses still without the alert ``deadline`` seconds after ``since`` (the fault)."""
        remaining = deadline - (time.monotonic() - (since or self.began))
        subject = self.standin.subject(event)
        wait_for(lambda: not mailboxes.waiting_for(subject), timeout=max(remaining, 0), interval=2)
        return mailboxes.waiting_for(subject)


def begin_fault(host, settings, relay, command: str, relay_down: bool = False) -> tuple[Fault, int]:
    """Run ``standin <command>`` on a quiet stand-in (with the relay's MTA stopped first if
    ``relay_down``); returns the fault and the PID before."""
    standin = StandIn.of(host, settings)
    standin.quiet(settings)
    tier1 = Mailboxes(relay, emails(settings, settings.monit.alert_tier))
    tier2 = Mailboxes(relay, [e for e in emails(settings, settings.monit.escalation_tier) if e not in tier1.paths])
    before = standin.main_pid()
    if relay_down:
        relay.check_output("systemctl stop exim4")
    host.check_output(f"standin {command}")
    return Fault(standin, time.monotonic(), tier1, tier2), before


@pytest.fixture(scope="module")
def crash(host, settings, relay):
    """kill -9 of the stand-in's main process; waits for it to run again."""
    fault, before = begin_fault(host, settings, relay, "crash")
    fault.recovered_after = fault.standin.restarted_after(before, fault.began, timeout=10 * settings.monit.cycle)
    yield fault
    host.run("standin heal")


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_killed_service_runs_again_within_two_cycles(crash, settings):
    assert crash.recovered_after is not None and crash.recovered_after <= 2 * settings.monit.cycle, (
        f"ran again after {crash.recovered_after}s"
    )


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_killed_service_is_mailed_to_tier1(crash, settings):
    assert crash.mailed(crash.tier1, "Does not exist", 2 * settings.monit.cycle + DELIVERY) == []


@pytest.fixture(scope="module")
def runaway(host, settings, relay):
    """One PHP worker spinning on the CPU (the seed's bug); waits for Monit's restart."""
    rules = settings.services[StandIn.of(host, settings).name].supervision
    if rules.cpu_percent is None:
        pytest.skip("no runaway rule for the stand-in's service")
    fault, before = begin_fault(host, settings, relay, "loop")
    fault.recovered_after = fault.standin.restarted_after(
        before, fault.began, timeout=3 * (runaway_deadline(settings, rules))
    )
    yield fault
    host.run("standin heal")


def runaway_deadline(settings, rules) -> float:
    """Seconds from a loop's start to the restart: Monit first measures a process's CPU over
    a whole cycle, then needs cpu_cycles cycles above the limit, then restarts it."""
    return (rules.cpu_cycles + 2) * settings.monit.cycle + rules.start_timeout


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_runaway_is_restarted_within_its_cycles(runaway, settings):
    rules = settings.services[runaway.standin.name].supervision
    assert runaway.recovered_after is not None and runaway.recovered_after <= runaway_deadline(settings, rules), (
        f"restarted after {runaway.recovered_after}s"
    )


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_runaway_is_mailed_to_tier1(runaway, settings):
    rules = settings.services[runaway.standin.name].supervision
    assert runaway.mailed(runaway.tier1, "Resource limit matched", runaway_deadline(settings, rules) + DELIVERY) == []


@pytest.fixture(scope="module")
def crash_loop(host, settings, relay):
    """Every start of the stand-in fails (`standin crashloop`) until the flag file goes."""
    fault, _ = begin_fault(host, settings, relay, "crashloop")
    yield fault
    host.run("standin heal")


def escalation_deadline(settings, rules) -> float:
    """Seconds from a crash loop's start to the escalation mail: one cycle to notice, then
    restart_limit failed starts, each waiting start_timeout, a cycle apart."""
    return settings.monit.cycle + rules.restart_limit * (rules.start_timeout + settings.monit.cycle) + DELIVERY


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_restart_loop_escalates_to_the_next_tier(crash_loop, settings):
    rules = settings.services[crash_loop.standin.name].supervision
    assert crash_loop.mailed(crash_loop.tier2, "Timeout", escalation_deadline(settings, rules)) == []


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_service_stays_monitored_in_a_restart_loop(crash_loop, settings, host):
    rules = settings.services[crash_loop.standin.name].supervision
    crash_loop.mailed(crash_loop.tier2, "Timeout", escalation_deadline(settings, rules))
    assert status(host, crash_loop.standin.name)["monitoring status"] == "Monitored"


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_monit_starts_it_once_starts_work_again(crash_loop, settings, host):
    rules = settings.services[crash_loop.standin.name].supervision
    crash_loop.mailed(crash_loop.tier2, "Timeout", escalation_deadline(settings, rules))
    host.check_output(f"rm -f {STANDIN_STATE_DIR}/crashloop")  # the flag `standin crashloop` set, without a restart
    assert wait_for(crash_loop.standin.main_pid, timeout=rules.start_timeout + 3 * settings.monit.cycle)


@pytest.fixture(scope="module")
def relay_outage(host, settings, relay):
    """The relay's MTA (the lab's exim4) stopped, then the stand-in killed."""
    fault, _ = begin_fault(host, settings, relay, "crash", relay_down=True)
    yield fault
    relay.run("systemctl start exim4")
    host.run("standin heal")


def queued_events(host) -> int:
    return int(host.check_output("find /var/lib/monit/events -type f | wc -l"))


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_alert_waits_in_the_event_queue_while_the_relay_is_down(relay_outage, settings, host):
    assert wait_for(lambda: queued_events(host), timeout=3 * settings.monit.cycle)


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_queued_alert_is_mailed_once_the_relay_is_back(relay_outage, settings, host, relay):
    wait_for(lambda: queued_events(host), timeout=3 * settings.monit.cycle)
    relay.check_output("systemctl start exim4")
    back = time.monotonic()
    assert relay_outage.mailed(relay_outage.tier1, "Does not exist", 2 * settings.monit.cycle + DELIVERY, back) == []


# --- disruptive: deploys ------------------------------------------------------------------

LIVE_MONIT = "find /etc/monit -type f -print0 | sort -z | xargs -0 sha1sum | sha1sum"


def monit_state(targets) -> dict[str, tuple[str, str]]:
    """Per host: a fingerprint of the live Monit files and Monit's main PID."""
    return {
        name: (target.testinfra.check_output(LIVE_MONIT), target.testinfra.check_output(
            "systemctl show -p MainPID --value monit"))
        for name, target in targets.items()
    }


@pytest.mark.disruptive
def test_check_monit_rejects_never_goes_live(pytestconfig, targets, project_copy):
    """A process pattern valid for the settings (a Python regex) but not for Monit (POSIX)."""
    web = next(target.settings for target in targets.values() if target.settings.services)
    name = next(iter(web.services))
    edit(project_copy / "group_data/web.py", f'"pidfile": "{web.services[name].supervision.pidfile}",',
         f'"match": "{name}: master (?:process)",')
    before = monit_state(targets)
    run = run_deploy(pytestconfig.getoption("inventory"), cwd=project_copy)
    assert run.returncode != 0 and "rejected by `monit -t`" in run.output and "Regex parsing error" in run.output
    assert monit_state(targets) == before  # same files, same running Monit


@pytest.mark.disruptive
def test_deploy_after_a_rejected_one_changes_nothing(pytestconfig):
    run = run_deploy(pytestconfig.getoption("inventory"))
    assert run.returncode == 0 and run.changed_operations == [], run.output[-3000:]


@pytest.mark.disruptive
def test_relay_password_is_never_printed(pytestconfig, targets, project_copy, monkeypatch):
    """The relay login reaches the hosts' monitrc, and no deploy output shows the password."""
    password = secrets.token_hex(16)
    monkeypatch.setenv("HOLDFAST_TEST_RELAY_USER", "holdfast-test")
    monkeypatch.setenv("HOLDFAST_TEST_RELAY_PASSWORD", password)
    edit(project_copy / "group_data/lab.py", '"username_env": None,', '"username_env": "HOLDFAST_TEST_RELAY_USER",')
    edit(project_copy / "group_data/lab.py", '"password_env": None,', '"password_env": "HOLDFAST_TEST_RELAY_PASSWORD",')
    try:
        run = run_deploy(pytestconfig.getoption("inventory"), "deploy.py", project_copy, "--diff", "-v")
        on_hosts = [target.testinfra.file(monit.CONTROL_FILE).contains(password) for target in targets.values()]
        assert (run.returncode, password in run.output, all(on_hosts)) == (0, False, True)
    finally:
        run_deploy(pytestconfig.getoption("inventory"), cwd=REPO)
