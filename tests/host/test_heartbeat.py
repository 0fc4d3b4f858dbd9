"""Every host's heartbeat: a running timer, a root-only URL, and pings that arrive.

The pings are checked against the Healthchecks.io double, which the test serves where the
settings point (the lab: this machine's address on the lab bridge); its check for every
host is made by the real deploy."""

import os

import pytest

from holdfast.hosted_monitors import CURL_CONFIG, UNIT
from holdfast.providers import healthchecks
from lab.harness.deploys import run_deploy
from lab.harness.probes import wait_for
from tests.doubles import listening_at
from tests.doubles.healthchecks import HealthchecksDouble

KEY = "hc-key"


def test_heartbeat_timer_is_running_and_enabled(host):
    timer = host.service(f"{UNIT}.timer")
    assert timer.is_running and timer.is_enabled


def test_ping_url_is_root_only(host):
    config = host.file(CURL_CONFIG)
    assert (config.user, config.group, config.mode) == ("root", "root", 0o600)


@pytest.fixture(scope="module")
def checks(pytestconfig, targets):
    """The Healthchecks.io double, with a check for every host made by the deploy."""
    hosted = next(iter(targets.values())).settings.hosted_monitors
    ping_key = os.environ.get(hosted.healthchecks.ping_key_env, "lab-ping-key")
    assert listening_at(hosted.healthchecks.ping_url) == listening_at(hosted.healthchecks.api_url)
    with HealthchecksDouble(KEY, ping_key, **listening_at(hosted.healthchecks.api_url)) as double, \
            pytest.MonkeyPatch.context() as environment:
        environment.setenv(hosted.healthchecks.api_key_env, KEY)
        environment.setenv(hosted.healthchecks.ping_key_env, ping_key)
        environment.delenv(hosted.uptimerobot.api_key_env, raising=False)
        run = run_deploy(pytestconfig.getoption("inventory"))
        assert run.returncode == 0, run.output[-3000:]
        yield double


@pytest.mark.disruptive
def test_pings_reach_the_hosts_check(target, settings, checks):
    slug = healthchecks.slug(settings.hosted_monitors.tag, target.name)
    assert [check["name"] for check in checks.checks.values() if check["slug"] == slug] == [target.name]
    pings = wait_for(lambda: checks.pings_of(slug), 2 * settings.heartbeat.every + 10) or []
    assert {ping.client for ping in pings} == {target.address}
