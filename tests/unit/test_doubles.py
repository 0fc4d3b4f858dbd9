"""The doubles' own behaviour where tests rely on it beyond answering the API: the
Healthchecks.io double alerts a check's integrations as the service does (down once
after its timeout and grace, up once when pinged again), on a clock the test moves."""

import time
import urllib.request

import pytest

from lab.doubles.healthchecks import HealthchecksDouble, Notification

PING_KEY = "ping-key"


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def double(clock):
    with HealthchecksDouble("key", PING_KEY, clock=clock) as double:
        first, second = double.add_channel("alice@example.com"), double.add_channel("bob@example.com")
        double.add_channel("carol@example.com")
        double.add_check(name="web1", slug="hf-web1", timeout=60, grace=120, channels=f"{first},{second}")
        yield double


def ping(double, slug="hf-web1"):
    with urllib.request.urlopen(f"{double.url}/ping/{PING_KEY}/{slug}") as answer:
        assert answer.read() == b"OK"


def test_a_check_never_pinged_never_goes_down(double, clock):
    clock.now += 10_000
    double.send_alerts()
    assert double.notifications == []


def test_a_check_goes_down_after_its_timeout_and_grace_and_tells_each_of_its_integrations_once(double, clock):
    ping(double)
    pinged = clock.now
    clock.now = pinged + 180
    double.send_alerts()
    assert double.notifications == []
    clock.now = pinged + 181
    double.send_alerts()
    double.send_alerts()
    clock.now += 600
    double.send_alerts()
    assert double.notifications == [Notification(pinged + 181, "web1", "down", "alice@example.com"),
                                     Notification(pinged + 181, "web1", "down", "bob@example.com")]
    assert [check["status"] for check in double.checks.values()] == ["down"]


def test_a_ping_brings_a_down_check_up_once(double, clock):
    ping(double)
    clock.now += 200
    double.send_alerts()
    ping(double)
    ping(double)
    assert [(n.status, n.channel, n.at) for n in double.notifications[2:]] == [
        ("up", "alice@example.com", clock.now), ("up", "bob@example.com", clock.now)]


def test_a_late_ping_keeps_the_check_up(double, clock):
    ping(double)
    clock.now += 170
    ping(double)
    clock.now += 170
    double.send_alerts()
    assert double.notifications == []


def test_a_paused_check_never_goes_down(double, clock):
    ping(double)
    next(iter(double.checks.values()))["status"] = "paused"
    clock.now += 10_000
    double.send_alerts()
    assert double.notifications == []


def test_the_alert_loop_runs_by_itself(double, clock):
    ping(double)
    clock.now += 181
    deadline = time.monotonic() + 5
    while not double.notifications and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {n.status for n in double.notifications} == {"down"}
