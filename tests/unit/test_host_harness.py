"""The host test harness's promise: against an inventory with no disposable host (the
production one), every disruptive test is skipped before anything reaches a host."""

import subprocess
import sys

from tests.conftest import REPO


def test_disruptive_tests_skip_production_before_any_fixture_runs():
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/host", "-m", "disruptive", "--inventory", "inventories/prod.py",
         "-q", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0 and " skipped" in summary and "passed" not in summary, run.stdout[-3000:]
    assert "error" not in summary and "failed" not in summary, run.stdout[-3000:]
