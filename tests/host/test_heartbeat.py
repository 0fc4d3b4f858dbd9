"""Every host's heartbeat: a running timer, a root-only URL, pings that arrive, and the
dead-man switch: a host that stops pinging (as the monitor host does when it dies, taking
the self-hosted monitor with it) is reported to the first tier by Healthchecks.io.

The pings are checked against the Healthchecks.io double, which the test serves where the
settings point (the lab: this machine's address on the lab bridge), with an integration
named after every address of the escalation plan; its check for every host is made by
the real deploy."""

import os
from datetime import datetime

import pytest

from holdfast.hosted_monitors import CURL_CONFIG, UNIT
from holdfast.providers import healthchecks
from holdfast.providers.model import recipients
from lab.doubles import listening_at
from lab.doubles.healthchecks import HealthchecksDouble
from lab.harness.deploys import run_deploy
from lab.harness.probes import wait_for

KEY = "hc-key"


def test_heartbeat_timer_is_running_and_enabled(host):
    timer = host.service(f"{UNIT}.timer")
    assert timer.is_running and timer.is_enabled


def test_ping_url_is_root_only(host):
    config = host.file(CURL_CONFIG)
    assert (config.user, config.group, config.mode) == ("root", "root", 0o600)


@pytest.fixture(scope="module")
def checks(pytestconfig, targets):
    """The Healthchecks.io double, with an integration for every address of the escalation
    plan, and a check for every host made by the deploy."""
    some_host = next(iter(targets.values())).settings
    hosted = some_host.hosted_monitors
    ping_key = os.environ.get(hosted.healthchecks.ping_key_env, "lab-ping-key")
    assert listening_at(hosted.healthchecks.ping_url) == listening_at(hosted.healthchecks.api_url)
    with HealthchecksDouble(KEY, ping_key, **listening_at(hosted.healthchecks.api_url)) as double, \
            pytest.MonkeyPatch.context() as environment:
        for recipient in recipients(some_host.escalation):
            double.add_channel(recipient.address)
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


@pytest.mark.disruptive
@pytest.mark.hosts("monitors")
def test_a_host_that_stops_pinging_is_reported_down_once_to_the_first_tier_then_up(host, target, settings, checks):
    slug = healthchecks.slug(settings.hosted_monitors.tag, target.name)
    first_tier = sorted(recipient.address for recipient in recipients(settings.escalation) if not recipient.delay)
    later_tiers = [recipient.address for recipient in recipients(settings.escalation) if recipient.delay]
    assert first_tier and later_tiers
    beat = settings.heartbeat
    assert wait_for(lambda: checks.pings_of(slug), 2 * beat.every + 10)

    def told(status: str) -> list:
        return [note for note in checks.notifications if note.check == target.name and note.status == status]

    assert host.run(f"systemctl stop {UNIT}.timer").rc == 0
    try:
        down = wait_for(lambda: told("down"), beat.every + beat.timeout + beat.grace + 10)
        check = next(check for check in checks.checks.values() if check["slug"] == slug)
        last_ping = datetime.fromisoformat(check["last_ping"]).timestamp()
    finally:
        assert host.run(f"systemctl start {UNIT}.timer").rc == 0
    assert down, f"{target.name} was not reported down within its timeout and grace"
    assert sorted(note.channel for note in down) == first_tier
    assert last_ping + beat.timeout + beat.grace <= down[0].at <= last_ping + 1 + beat.timeout + beat.grace + 2
    up = wait_for(lambda: told("up"), beat.every + 10)
    assert up and sorted(note.channel for note in up) == first_tier
    assert len(told("down")) == len(first_tier)
