"""A user's own fleet never breaks the tests: in a copy of the repository whose group_data/
and inventories/prod.py are another company's (tests/fixtures/other_fleet: other hosts,
contacts, tiers, PHP version), with its runbook rendered as `make runbook` would, `make
check` passes on it, and so do ruff and the unit tests. The tests read their own data (lab/fleet)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAKE_SMTP_ENV, REPO

# Set in the copy's run, so that this test does not run itself there again.
NESTED = "HOLDFAST_TEST_OWN_FLEET"
OTHER_FLEET = REPO / "tests/fixtures/other_fleet"


def copy_of_repository(destination: Path) -> Path:
    """The files git has (tracked, and new ones it does not ignore), as in the work tree."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.mark.skipif(NESTED in os.environ, reason="the run inside the copy")
def test_unit_tests_pass_with_another_fleet_in_group_data(tmp_path):
    project = copy_of_repository(tmp_path)
    shutil.rmtree(project / "group_data")
    shutil.copytree(OTHER_FLEET / "group_data", project / "group_data")
    shutil.copy(OTHER_FLEET / "inventories/prod.py", project / "inventories/prod.py")
    env = {**os.environ, **FAKE_SMTP_ENV, "BAKERY_PAGERDUTY_KEY": "fake-key", NESTED: "1"}
    rendered = subprocess.run([sys.executable, "-m", "holdfast.runbook"], cwd=project, env=env,
                              capture_output=True, text=True, check=True).stdout
    assert "dana@bakery.test" in rendered and "php8.3-fpm" in rendered
    (project / "docs/RUNBOOK.md").write_text(rendered)
    checked = subprocess.run([sys.executable, "-m", "holdfast", "check", "inventories/prod.py"], cwd=project, env=env,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    ruff = subprocess.run([Path(sys.executable).parent / "ruff", "check", "."], cwd=project,
                          capture_output=True, text=True)
    assert ruff.returncode == 0, ruff.stdout[-2000:]
    # Its own temporary directory: pytest's clean-up of old ones never reaches this run's.
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/unit", "-q", "-x", "-p", "no:cacheprovider",
                          f"--basetemp={tmp_path / 'nested'}"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:]
