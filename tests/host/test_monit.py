"""Monit supervises every declared service: what dies or runs away is restarted and the
escalation plan's first tier is mailed; a restart loop is escalated to the next tier while
Monit keeps watching; a configuration Monit rejects never goes live.

The disruptive tests break the lab's stand-in (`standin`, lab/site.py) and heal it after.
"""

import secrets
import time

import pytest

from holdfast import monit
from lab.harness.deploys import fingerprint_command, run_deploy
from lab.harness.faults import (
    DELIVERY,
    MONIT_LOG,
    StandIn,
    begin_fault,
    escalation_deadline,
    hang_every_worker,
    runaway_deadline,
    status,
    summary,
)
from lab.harness.probes import wait_for
from lab.site import STATE_DIR as STANDIN_STATE_DIR
from lab.site import standin_site
from tests.conftest import edit


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


def test_declared_service_is_listed_and_ok(host, settings, service, service_name):
    assert ok_within(host, settings, service_name) == "OK"


def test_site_end_to_end_check_is_ok(host, settings, site, site_name):
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
def standin(host, settings):
    """The service the lab's `standin` breaks."""
    return StandIn.of(host, settings)


@pytest.fixture(scope="module")
def rules(standin, settings):
    """Monit's rules for the stand-in's service."""
    return settings.services[standin.name].supervision


# The faults below read the first tier's mail and the restart's timing: they start once the
# stand-in runs OK again, without waiting for Monit to forget the restarts of the ones before
# (StandIn.quiet): those count only toward the restart-loop rule, which alerts the escalation
# tier, and the restart loop's fixture waits for them to be forgotten.


@pytest.fixture(scope="module")
def crash(standin, host, settings, relay):
    """kill -9 of the stand-in's main process; waits for it to run again."""
    fault, before = begin_fault(standin, settings, relay, "crash", restarts_forgotten=False)
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
def runaway(standin, rules, host, settings, relay):
    """One PHP worker spinning on the CPU (the seed's bug); waits for Monit's restart."""
    if rules.cpu_percent is None:
        pytest.skip("no runaway rule for the stand-in's service")
    fault, before = begin_fault(standin, settings, relay, "loop", restarts_forgotten=False)
    fault.recovered_after = fault.standin.restarted_after(
        before, fault.began, timeout=3 * runaway_deadline(settings, rules)
    )
    yield fault
    host.run("standin heal")


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_runaway_is_restarted_within_its_cycles(runaway, rules, settings):
    assert runaway.recovered_after is not None and runaway.recovered_after <= runaway_deadline(settings, rules), (
        f"restarted after {runaway.recovered_after}s"
    )


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_runaway_is_mailed_to_tier1(runaway, rules, settings):
    assert runaway.mailed(runaway.tier1, "Resource limit matched", runaway_deadline(settings, rules) + DELIVERY) == []


def monit_log_lines(host) -> int:
    return int(host.check_output(f"wc -l < {MONIT_LOG}"))


def monit_log_since(host, lines: int, check: str) -> list[str]:
    """Monit's log lines about ``check`` after the first ``lines``."""
    return [line for line in host.check_output(f"tail -n +{lines + 1} {MONIT_LOG}").splitlines()
            if f"'{check}' " in line]


LEAK_RATE = 5 << 20  # bytes a second: 1 MiB every 0.2 s, slow enough for Monit's cycles before the slice's limit


def leak_head_start(rules) -> int:
    """Bytes the leak takes at once: two thirds of memory_limit, so that the test does not
    wait for the slow part of the way; the last third still grows at LEAK_RATE."""
    return rules.memory_limit * 2 // 3


def memory_deadline(settings, rules) -> float:
    """Seconds from a leak's start to the restart: the leak reaching memory_limit from its
    head start (the app's own memory only makes it sooner), memory_cycles readings above it,
    a cycle of slack, then the restart (up to start_timeout)."""
    return (rules.memory_limit - leak_head_start(rules)) / LEAK_RATE + (rules.memory_cycles + 1) * settings.monit.cycle \
        + rules.start_timeout


@pytest.fixture(scope="module")
def memory_runaway(standin, rules, host, settings, relay):
    """A PHP worker leaking with Monit on (the tests that measure the slice hold Monit off);
    waits for the restart; Monit's log lines about the service meanwhile."""
    if rules.memory_limit is None:
        pytest.skip("no memory rule for the stand-in's service")
    standin.quiet(settings, restarts_forgotten=False)
    lines = monit_log_lines(host)
    fault, before = begin_fault(standin, settings, relay, f"leak 'from={leak_head_start(rules) >> 20}&mb=1'",
                                restarts_forgotten=False)
    fault.recovered_after = standin.restarted_after(before, fault.began, timeout=2 * memory_deadline(settings, rules))
    yield fault, monit_log_since(host, lines, standin.name)
    host.run("standin heal")


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_leak_is_restarted_by_the_memory_rule(memory_runaway, rules, settings):
    fault, log = memory_runaway
    assert fault.recovered_after is not None and fault.recovered_after <= memory_deadline(settings, rules), (
        f"restarted after {fault.recovered_after}s"
    )
    assert any("total mem amount" in line and "matches resource limit" in line for line in log), log


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_leak_is_mailed_to_tier1(memory_runaway, rules, settings):
    fault, _ = memory_runaway
    assert fault.mailed(fault.tier1, "Resource limit matched", memory_deadline(settings, rules) + DELIVERY) == []


def hang_deadline(settings, rules) -> float:
    """Seconds from every worker hanging to the restart: health_cycles failed probes, each
    a cycle plus its timeout, a cycle of slack, then the restart (up to start_timeout).
    Through nginx over HTTPS a probe of a hung backend fails after twice its timeout
    (Monit 5.33, measured: failures 15 s apart with a 5 s cycle and a 5 s timeout)."""
    probe_timeout = rules.health_timeout * (2 if standin_site(settings).tls else 1)
    return rules.health_cycles * (settings.monit.cycle + probe_timeout) + settings.monit.cycle + (
        rules.start_timeout)


@pytest.fixture(scope="module")
def hung(standin, rules, host, settings):
    """Every PHP worker asleep (the master alive) with Monit on: its health probe through
    nginx fails; waits for the restart."""
    site = standin_site(settings)
    standin.quiet(settings, restarts_forgotten=False)
    lines = monit_log_lines(host)
    before = standin.main_pid()
    began = time.monotonic()
    hang_every_worker(standin, site)
    after = standin.restarted_after(before, began, timeout=2 * hang_deadline(settings, rules))
    yield after, monit_log_since(host, lines, standin.name)
    host.run("standin heal")


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_hung_backend_is_restarted_by_the_health_probe(hung, rules, settings):
    after, log = hung
    assert after is not None and after <= hang_deadline(settings, rules), f"restarted after {after}s"
    assert any("failed protocol test" in line for line in log), log


@pytest.fixture(scope="module")
def crash_loop(standin, host, settings, relay):
    """Every start of the stand-in fails (`standin crashloop`) until the flag file goes."""
    fault, _ = begin_fault(standin, settings, relay, "crashloop")
    yield fault
    host.run("standin heal")


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_restart_loop_escalates_to_the_next_tier(crash_loop, rules, settings):
    assert crash_loop.mailed(crash_loop.tier2, "Timeout", escalation_deadline(settings, rules)) == []


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_service_stays_monitored_in_a_restart_loop(crash_loop, rules, settings, host):
    crash_loop.mailed(crash_loop.tier2, "Timeout", escalation_deadline(settings, rules))
    assert status(host, crash_loop.standin.name)["monitoring status"] == "Monitored"


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_monit_starts_it_once_starts_work_again(crash_loop, rules, settings, host):
    crash_loop.mailed(crash_loop.tier2, "Timeout", escalation_deadline(settings, rules))
    host.check_output(f"rm -f {STANDIN_STATE_DIR}/crashloop")  # the flag `standin crashloop` set, without a restart
    assert wait_for(crash_loop.standin.main_pid, timeout=rules.start_timeout + 3 * settings.monit.cycle)


def queued_events(host, check: str | None = None) -> set[str]:
    """Files in Monit's event queue; with ``check``, those about that check only."""
    about = f" -exec grep -l -F -- '{check}' {{}} +" if check else ""
    return set(host.check_output(f"find /var/lib/monit/events -type f{about}").split())


@pytest.fixture(scope="module")
def relay_outage(standin, host, settings, relay):
    """The relay's MTA (the lab's exim4) stopped, then the stand-in killed; with the event
    queue's files before, and a wait for the stand-in's new ones (empty if none in time)."""
    standin.quiet(settings, restarts_forgotten=False)
    before = queued_events(host)
    fault, _ = begin_fault(standin, settings, relay, "crash", relay_down=True, restarts_forgotten=False)
    queued = wait_for(lambda: queued_events(host, standin.name) - before, timeout=3 * settings.monit.cycle) or set()
    yield fault, queued
    relay.run("systemctl start exim4")
    host.run("standin heal")


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_alert_waits_in_the_event_queue_while_the_relay_is_down(relay_outage):
    _, queued = relay_outage
    assert queued, "no new event about the stand-in queued"


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_queued_alert_is_mailed_once_the_relay_is_back(relay_outage, settings, host, relay):
    fault, queued = relay_outage
    relay.check_output("systemctl start exim4")
    back = time.monotonic()
    assert fault.mailed(fault.tier1, "Does not exist", 2 * settings.monit.cycle + DELIVERY, back) == []
    assert wait_for(lambda: not queued & queued_events(host), timeout=2 * settings.monit.cycle), "still queued"


# --- disruptive: deploys ------------------------------------------------------------------

LIVE_MONIT = fingerprint_command("/etc/monit")


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
        run = run_deploy(pytestconfig.getoption("inventory"), "--diff", "-v", cwd=project_copy)
        on_hosts = [target.testinfra.file(monit.CONTROL_FILE).contains(password) for target in targets.values()]
        assert (run.returncode, password in run.output, all(on_hosts)) == (0, False, True)
    finally:
        run_deploy(pytestconfig.getoption("inventory"), cwd=pytestconfig.holdfast_project)  # not the edited copy
