"""Escalation reaches people: tier 1 on chat within a minute, tier 2 called (PagerDuty)
after its wait, and an acknowledgement (`make ack`) in tier 1's window that keeps tier 2
from ever being called. One alert brain: a service Monit restarts reaches Alertmanager
and chat; with the monitor host dark (its packets dropped), Monit's own mail still arrives.

The providers' doubles (lab/doubles/) are served where group_data/lab.py points the
providers (this machine's address on the lab bridge), with the secrets the deploy read
from the environment (the Makefile sets the lab's). nginx is stopped on two web hosts at
once, Monit held off: one outage is left to escalate, the other is acknowledged. Pages
already firing before the break (the error budget remembers earlier tests' outages) are
not this outage's and are left out. Lab only.
"""

import json
import os
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest

from holdfast import monitoring
from holdfast.monitoring import ALERTMANAGER_ADDRESS, MONIT_EVENT_ALERT
from lab.doubles import listening_at
from lab.doubles.pagerduty import PagerDutyDouble
from lab.doubles.slack import SlackDouble
from lab.harness.faults import DELIVERY, StandIn, begin_fault
from lab.harness.probes import wait_for
from tests.host.test_monitoring import alert_deadline, site_down_wait, stop_nginx

pytestmark = [pytest.mark.hosts("monitors"), pytest.mark.disruptive]

CHAT_WITHIN = 60  # seconds from the break to tier 1's chat message
ACKNOWLEDGER = "holdfast-tests"
# The pages tier 1 gets for nginx down: the site, its error budget, Monit's view (held off).
ACKNOWLEDGED = ("SiteDown", "SiteBudgetBurnFast", "MonitCheckFailing")


def secret(provider) -> str:
    value = os.environ.get(provider.secret_env)
    if not value:
        pytest.fail(f"{provider.secret_env} is not set: the deploy read the provider's secret from it "
                    "(the Makefile sets the lab's)")
    return value


@dataclass
class Escalation:
    """What two outages caused, by web host: seconds from the break to tier 1's chat
    message and to tier 2's call (None: not in time), and the acknowledgement's silences."""

    chat_after: dict[str, float | None] = field(default_factory=dict)
    called_after: dict[str, float | None] = field(default_factory=dict)
    calls: dict[str, list[str]] = field(default_factory=dict)
    silences: list[dict] = field(default_factory=list)


def alerts(monitor) -> list[dict]:
    """The alerts Alertmanager on ``monitor`` has now (its v2 API)."""
    return json.loads(monitor.check_output(f"curl -sf http://{ALERTMANAGER_ADDRESS}/api/v2/alerts"))


def firing(monitor, tier: str) -> set[tuple[str, str]]:
    """(alert, host) of every alert Alertmanager has for ``tier`` now."""
    return {(alert["labels"]["alertname"], alert["labels"].get("host")) for alert in alerts(monitor)
            if alert["labels"].get("tier") == tier}


def chat_double(provider) -> SlackDouble:
    return SlackDouble(secret(provider), **listening_at(provider.url), base_path=urllib.parse.urlsplit(provider.url).path)


def acknowledge(inventory: str, alert: str, host: str) -> None:
    run = subprocess.run([sys.executable, "-m", "holdfast.ack", "--inventory", inventory, "--alert", alert,
                          "--host", host, "--for", "10m", "--comment", "test_channels: on it", "--by", ACKNOWLEDGER],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


@pytest.fixture(scope="module")
def escalation(pytestconfig, target, settings, targets) -> Escalation:
    webs = [each for each in targets.values() if "web" in each.groups]
    plan = settings.escalation
    if len(webs) < 2 or len(plan.tiers) < 2 or "chat" not in plan.tiers[0].channels \
            or "phone" not in plan.tiers[1].channels:
        pytest.skip("needs two web hosts and a plan with chat for tier 1 and phone for tier 2")
    escalating, acknowledged = webs[:2]
    chat_provider, phone_provider = plan.providers["chat"], plan.providers["phone"]
    monitor, result = target.testinfra, Escalation()
    with chat_double(chat_provider) as chat, \
            PagerDutyDouble(secret(phone_provider), **listening_at(phone_provider.url)) as phone:

        def chatted(web) -> bool:
            return any(f"[FIRING] SiteDown on {web.name} ({plan.tiers[0].name})" in text for text in chat.texts())

        def calls(web, alerts=None) -> list[str]:
            """Tier 2's calls about ``web`` (for ``alerts``, else for any alert not firing before the break)."""
            return [call["summary"] for call in phone.calls
                    for alert in [call["summary"].removeprefix("[FIRING] ").split(" ")[0]]
                    if f" on {web.name} ({plan.tiers[1].name})" in call["summary"]
                    and (alert in alerts if alerts else (alert, web.name) not in before)]

        # An earlier run's outages, notified as firing and never as resolved (their doubles
        # were gone by then), would be taken for this one: a fresh notification log.
        monitor.check_output("systemctl stop prometheus-alertmanager && rm -f /var/lib/prometheus/alertmanager/nflog"
                             " && systemctl start prometheus-alertmanager")
        wait_for(lambda: monitor.run(f"curl -sf http://{ALERTMANAGER_ADDRESS}/-/ready").rc == 0, 30)
        before = firing(monitor, plan.tiers[1].name)
        outages = [stop_nginx(web) for web in (escalating, acknowledged)]
        broken = time.monotonic()
        try:
            for stop, _ in outages:
                stop()
            for web in (escalating, acknowledged):
                in_time = wait_for(lambda web=web: chatted(web), CHAT_WITHIN - (time.monotonic() - broken))
                result.chat_after[web.name] = round(time.monotonic() - broken) if in_time else None
            acknowledge(pytestconfig.getoption("inventory"), "|".join(ACKNOWLEDGED), acknowledged.name)
            tier2 = alert_deadline(settings.monitoring, site_down_wait(settings.monitoring) + plan.tiers[1].escalate_after)
            called = wait_for(lambda: calls(escalating, ["SiteDown"]), tier2 - (time.monotonic() - broken))
            result.called_after[escalating.name] = round(time.monotonic() - broken) if called else None
            # Both broke together: the acknowledged one's tier 2 copies fire by now; give them a round.
            time.sleep(settings.monitoring.evaluation_interval + settings.monitoring.group_wait + 5)
            result.calls = {web.name: calls(web) for web in (escalating, acknowledged)}
            result.silences = [silence for silence in json.loads(monitor.check_output(
                f"curl -sf http://{ALERTMANAGER_ADDRESS}/api/v2/silences")) if silence["status"]["state"] == "active"]
        finally:
            for _, repair in outages:
                repair()
            for silence in result.silences:
                monitor.run(f"amtool --alertmanager.url=http://{ALERTMANAGER_ADDRESS} silence expire {silence['id']}")
    print(f"escalation: {result}")
    return result


def test_tier1_hears_on_chat_within_a_minute(escalation):
    assert all(after is not None for after in escalation.chat_after.values()), escalation


def test_tier2_is_called_after_its_wait(escalation, settings):
    called_after, = escalation.called_after.values()
    earliest = settings.escalation.tiers[1].escalate_after - settings.monitoring.evaluation_interval
    assert called_after is not None and called_after >= earliest, escalation


def test_an_acknowledged_outage_never_calls_tier2(escalation):
    escalating, acknowledged = escalation.calls
    assert escalation.calls[escalating] and escalation.calls[acknowledged] == [], escalation


def test_the_acknowledgement_says_who_and_why(escalation):
    assert {(silence["createdBy"], silence["comment"]) for silence in escalation.silences} == {
        (ACKNOWLEDGER, "test_channels: on it")}
    assert [matcher["value"] for silence in escalation.silences for matcher in silence["matchers"]
            if matcher["name"] == "alertname"] == ["|".join(ACKNOWLEDGED)]


# --- one alert brain: Monit's events in Alertmanager, Monit's mail without it ------------


@pytest.fixture(scope="module")
def web(targets):
    """The first web host."""
    return next(each for each in targets.values() if "web" in each.groups)


@pytest.fixture(scope="module")
def standin(web) -> StandIn:
    """The service the lab's `standin` breaks, on the first web host."""
    yield StandIn.of(web.testinfra, web.settings)
    web.testinfra.run("standin heal")


def test_a_service_monit_restarts_reaches_alertmanager_and_chat(target, settings, relay, web, standin):
    with chat_double(settings.escalation.providers["chat"]) as chat:
        begin_fault(standin, web.settings, relay, "crash", restarts_forgotten=False)
        deadline = 4 * web.settings.monit.cycle + settings.monitoring.group_wait + DELIVERY

        def in_alertmanager() -> bool:
            return any(alert["labels"]["alertname"] == MONIT_EVENT_ALERT and alert["labels"].get("host") == web.name
                       and alert["labels"].get("check") == standin.name for alert in alerts(target.testinfra))

        assert wait_for(in_alertmanager, deadline), f"no {MONIT_EVENT_ALERT} for {standin.name} on {web.name}"
        # A new group waits group_wait; an earlier run's group of the same alert, group_interval.
        monitor = settings.monitoring
        assert wait_for(lambda: any(f"{MONIT_EVENT_ALERT} on {web.name}" in text for text in chat.texts()),
                        max(monitor.group_wait, monitor.group_interval) + DELIVERY), chat.texts()


# The monitor host gone dark to every new connection but for what the lab keeps there that
# production keeps elsewhere: its mail sink (SMTP), and SSH for the test. They are dropped
# unanswered, as by a dead host: the event's relay call waits for its timeout, not a
# refusal. Its own connections (Prometheus's scrapes) go on, so no other alert follows.
DARK = """table inet holdfast_test_dark {
    chain input {
        type filter hook input priority -50; policy drop;
        iif "lo" accept
        ct state established,related accept
        tcp dport { 22, 25 } accept
    }
}"""


def test_with_the_monitor_host_dark_monit_mail_still_arrives(target, relay, web, standin):
    monitor = target.testinfra
    reached = f"curl -s -o /dev/null -m 3 http://{target.address}:{monitoring.MONIT_RELAY_PORT}/"
    monitor.check_output(f"nft -f - <<'EOF'\n{DARK}\nEOF")
    try:
        assert web.testinfra.run(reached).rc == 28, "the monitor host still answers"  # 28: curl's timeout
        fault, _ = begin_fault(standin, web.settings, relay, "crash", restarts_forgotten=False)
        assert fault.mailed(fault.tier1, "Does not exist", 2 * web.settings.monit.cycle + DELIVERY) == []
    finally:
        monitor.run("nft delete table inet holdfast_test_dark")
