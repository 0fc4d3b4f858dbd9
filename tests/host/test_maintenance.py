"""A maintenance window on a web host: a service killed during it is not restarted by
Monit and pages nobody, and the host's Healthchecks.io check is paused with its heartbeat
stopped; once the window ends by itself, the same fault is restarted and pages tier 1
(Monit's "Does not exist" mail in the lab's mail sink), and the heartbeat's first ping
resumes the check (the Healthchecks.io double, where the lab's settings point)."""

import json
import os
import subprocess
import sys
import time

import pytest

from holdfast import maintenance
from holdfast.hosted_monitors import UNIT as HEARTBEAT_UNIT
from holdfast.providers import healthchecks
from lab.doubles import listening_at
from lab.doubles.healthchecks import HealthchecksDouble
from lab.harness.faults import DELIVERY, Fault, StandIn
from lab.harness.probes import Mailboxes, wait_for

WINDOW = 40  # seconds


def holdfast(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "holdfast", *args], capture_output=True, text=True,
                          timeout=60, check=True).stdout


@pytest.fixture(scope="module")
def checks(settings, target):
    """The Healthchecks.io double with Holdfast's check of the host, the key in the environment."""
    hosted = settings.hosted_monitors
    ping_key = os.environ.get(hosted.healthchecks.ping_key_env, "lab-ping-key")
    with HealthchecksDouble("hc-key", ping_key, **listening_at(hosted.healthchecks.api_url)) as double, \
            pytest.MonkeyPatch.context() as environment:
        environment.setenv(hosted.healthchecks.api_key_env, "hc-key")
        double.add_check(name=target.name, slug=healthchecks.slug(hosted.tag, target.name), tags=hosted.tag)
        yield double


@pytest.fixture(scope="module")
def window(pytestconfig, host, settings, relay, target, checks):
    """A window of WINDOW s opened on the quiet host, then `standin crash`; heals after."""
    inventory = pytestconfig.getoption("inventory")
    standin = StandIn.of(host, settings)
    standin.quiet(settings)
    slug = healthchecks.slug(settings.hosted_monitors.tag, target.name)
    assert wait_for(lambda: checks.pings_of(slug), 2 * settings.heartbeat.every + 10), "no heartbeat before"
    opened = time.monotonic()
    holdfast("maintenance", inventory, target.name, "--for", f"{WINDOW}s", "--reason", "host test")
    plan = settings.escalation
    everyone = Mailboxes(relay, sorted({e for tier in plan.tiers for e in plan.tier_emails(tier.name)}))
    tier1 = Mailboxes(relay, plan.tier_emails(settings.monit.alert_tier))
    host.check_output("standin crash")
    fault = Fault(standin, time.monotonic(), tier1, tier1)
    yield inventory, opened, fault, everyone
    holdfast("maintenance", inventory, target.name, "--end")
    host.run("standin heal")


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_maintenance_window(window, checks, settings, target, host):
    inventory, opened, fault, everyone = window
    found = json.loads(holdfast("status", inventory, "--json"))
    (web,) = [h for h in found["hosts"] if h["name"] == target.name]
    assert web["maintenance"]["reason"] == "host test"
    assert any(s["matchers"] == f"host={target.name}" for s in found["silences"])
    # The host's check is paused and its heartbeat stopped; the window's end is a unit file
    # that a reboot keeps, not a transient unit.
    (check,) = [c for c in checks.checks.values() if c["name"] == target.name]
    assert check["status"] == "paused"
    assert not host.service(f"{HEARTBEAT_UNIT}.timer").is_running
    shown = host.check_output(f"systemctl show {maintenance.TIMER_UNIT}.timer -p FragmentPath -p Persistent "
                              "-p UnitFileState")
    assert set(shown.splitlines()) == {f"FragmentPath=/etc/systemd/system/{maintenance.TIMER_UNIT}.timer",
                                       "Persistent=yes", "UnitFileState=enabled"}
    pings = len(checks.pings_of(check["slug"]))

    # During the window: nobody restarts the service, nobody is paged about the host, no ping.
    restarted = wait_for(lambda: fault.standin.main_pid(), timeout=opened + WINDOW - 3 - time.monotonic(), interval=2)
    assert not restarted, f"{fault.standin.unit} restarted during the window"
    paged = [subject for address in everyone.paths for subject in everyone.subjects(address)
             if "Does not exist" in subject or subject.startswith("[FIRING]")]
    assert paged == []
    assert len(checks.pings_of(check["slug"])) == pings and check["status"] == "paused"

    # After it: Monit monitors again by itself, restarts the service and mails tier 1; the
    # heartbeat's first ping resumes the check; the timer is gone.
    ended = opened + WINDOW
    assert fault.standin.restarted_after(0, ended, timeout=4 * settings.monit.cycle + 5) is not None
    assert fault.mailed(fault.tier1, "Does not exist", 2 * settings.monit.cycle + DELIVERY, since=ended) == []
    assert wait_for(lambda: len(checks.pings_of(check["slug"])) > pings, timeout=15), "no ping after the window"
    assert check["status"] == "up" and host.service(f"{HEARTBEAT_UNIT}.timer").is_running
    assert not host.file(f"/etc/systemd/system/{maintenance.TIMER_UNIT}.timer").exists
