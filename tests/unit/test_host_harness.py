"""The host test harness's promises: against an inventory with no disposable host (the
production one), every disruptive test is skipped before anything reaches a host; a wait
for mail in no mailbox at all fails instead of passing at once."""

import subprocess
import sys

import pytest

from lab.harness.probes import Mailboxes
from tests.conftest import REPO


def test_waiting_for_mail_in_no_mailbox_is_refused():
    with pytest.raises(ValueError, match="no mailbox to wait for 'alert'"):
        Mailboxes(sink_host=None, addresses=[]).waiting_for("alert")


def test_disruptive_tests_skip_production_before_any_fixture_runs():
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/host", "-m", "disruptive", "--inventory", "inventories/prod.py",
         "--project", "lab/fleet",
         "-q", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0 and " skipped" in summary and "passed" not in summary, run.stdout[-3000:]
    assert "error" not in summary and "failed" not in summary, run.stdout[-3000:]
