"""Hosted monitors, reconciled by the real deploy (`pyinfra INVENTORY deploy.py`) against
the doubles of UptimeRobot and Healthchecks.io that this test serves where the
inventory's settings point (the lab: this machine's address on the lab bridge).

Lab only: the doubles stand in for the providers, and the deploys run for real.
"""

import pytest

from holdfast.providers import healthchecks
from lab.harness.deploys import run_deploy
from tests.host.conftest import KEYS, names

pytestmark = pytest.mark.disruptive


def deploy(pytestconfig, *extra: str):
    return run_deploy(pytestconfig.getoption("inventory"), *extra)


def wanted_names(targets) -> dict[str, list[str]]:
    """What the settings ask for: a monitor per site, a check per host."""
    return {
        "uptimerobot": sorted({site for target in targets.values() for site in target.settings.sites}),
        "healthchecks": sorted(targets),
    }


def test_dry_run_prints_the_plan_and_writes_nothing(pytestconfig, targets, doubles, keys):
    run = deploy(pytestconfig, "--dry")
    assert run.returncode == 0, run.output[-3000:]
    wanted = wanted_names(targets)
    assert f"UptimeRobot: create {len(wanted['uptimerobot'])}, update 0, delete 0" in run.output
    assert f"Healthchecks.io: create {len(wanted['healthchecks'])}, update 0, delete 0" in run.output
    assert [double.writes for double in doubles.values()] == [[], []]


def test_deploy_creates_the_monitors_and_a_second_changes_nothing(pytestconfig, targets, hosted, doubles, keys):
    first = deploy(pytestconfig)
    assert first.returncode == 0, first.output[-3000:]
    assert names(doubles) == wanted_names(targets)
    assert sorted(check["slug"] for check in doubles["healthchecks"].checks.values()) == sorted(
        healthchecks.slug(hosted.tag, name) for name in targets
    )
    written = [len(double.writes) for double in doubles.values()]
    second = deploy(pytestconfig)
    assert second.returncode == 0, second.output[-3000:]
    assert [len(double.writes) for double in doubles.values()] == written
    assert second.changed_operations == []


def test_an_invalid_key_stops_the_deploy_before_anything_changes(pytestconfig, doubles, keys, monkeypatch, hosted):
    monkeypatch.setenv(hosted.uptimerobot.api_key_env, "wrong-k")
    run = deploy(pytestconfig)
    assert run.returncode != 0
    assert "UptimeRobot: list alert contacts: the API key was refused (HTTP 401" in run.output
    assert hosted.uptimerobot.api_key_env in run.output and "wrong-k" not in run.output
    assert "Beginning operation run" not in run.output
    assert [double.writes for double in doubles.values()] == [[], []]


def test_no_key_is_one_skipped_line_per_provider(pytestconfig, doubles, monkeypatch, hosted):
    for provider in KEYS:
        monkeypatch.delenv(getattr(hosted, provider).api_key_env, raising=False)
    run = deploy(pytestconfig)
    assert run.returncode == 0, run.output[-3000:]
    for name, provider in (("UptimeRobot", "uptimerobot"), ("Healthchecks.io", "healthchecks")):
        env = getattr(hosted, provider).api_key_env
        assert run.output.count(f"{name}: skipped, {env} is not set") == 1
    assert [double.api_requests for double in doubles.values()] == [[], []]
