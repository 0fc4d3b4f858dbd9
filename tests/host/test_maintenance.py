"""A maintenance window on a web host: a service killed during it is not restarted by
Monit and pages nobody; once the window ends by itself, the same fault is restarted and
pages tier 1 (Monit's "Does not exist" mail in the lab's mail sink)."""

import json
import subprocess
import sys
import time

import pytest

from lab.harness.faults import DELIVERY, Fault, StandIn
from lab.harness.probes import Mailboxes, wait_for

WINDOW = 40  # seconds


def holdfast(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "holdfast", *args], capture_output=True, text=True,
                          timeout=60, check=True).stdout


@pytest.fixture(scope="module")
def window(pytestconfig, host, settings, relay, target):
    """A window of WINDOW s opened on the quiet host, then `standin crash`; heals after."""
    inventory = pytestconfig.getoption("inventory")
    standin = StandIn.of(host, settings)
    standin.quiet(settings)
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
def test_maintenance_window(window, settings, target):
    inventory, opened, fault, everyone = window
    found = json.loads(holdfast("status", inventory, "--json"))
    (web,) = [h for h in found["hosts"] if h["name"] == target.name]
    assert web["maintenance"]["reason"] == "host test"
    assert any(s["matchers"] == f"host={target.name}" for s in found["silences"])

    # During the window: nobody restarts the service, nobody is paged about the host.
    restarted = wait_for(lambda: fault.standin.main_pid(), timeout=opened + WINDOW - 3 - time.monotonic(), interval=2)
    assert not restarted, f"{fault.standin.unit} restarted during the window"
    paged = [subject for address in everyone.paths for subject in everyone.subjects(address)
             if "Does not exist" in subject or subject.startswith("[FIRING]")]
    assert paged == []

    # After it: Monit monitors again by itself, restarts the service and mails tier 1.
    ended = opened + WINDOW
    assert fault.standin.restarted_after(0, ended, timeout=4 * settings.monit.cycle + 5) is not None
    assert fault.mailed(fault.tier1, "Does not exist", 2 * settings.monit.cycle + DELIVERY, since=ended) == []
