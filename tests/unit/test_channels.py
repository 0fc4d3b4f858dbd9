"""Every channel a tier declares is delivered: Alertmanager's receivers for chat, phone and
sms, rendered from the escalation plan's providers, with their secrets in files."""

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from holdfast import channels, monit, monitoring, settings
from holdfast.channels import matrix, ntfy, pagerduty, slack
from holdfast.inventory import WATCHED_GROUP, group_addresses, read_inventory
from holdfast.templates import render
from lab.doubles import Answer, Double
from lab.doubles.matrix import MatrixDouble
from lab.doubles.ntfy import NtfyDouble
from tests.conftest import FAKE_CHANNEL_ENV, FAKE_DEPLOY_ENV, FLEET, edit, load_settings
from tests.unit.conftest import PROD
from tests.unit.test_monitoring import alertmanager_config, monitor_settings, prepare_error, rendered


def receivers(files) -> dict[str, dict]:
    """Alertmanager's receivers by name: each key of theirs besides email, as parsed JSON."""
    config = rendered(files, monitoring.ALERTMANAGER_CONFIG)
    found = {}
    for block in config.split("\n  - name: ")[1:]:
        name, *lines = block.split("\n")
        found[json.loads(name)] = {key: json.loads(value) for key, value in
                                   (re.match(r"    (\w+_configs): (\[.*\])$", line).groups()
                                    for line in lines if re.match(r"    \w+_configs: \[", line))}
    return found


def test_each_tier_is_reached_on_its_channels(prod):
    files = alertmanager_config(monitor_settings(prod))
    by_name = receivers(files)
    assert list(by_name["tier1"]) == ["slack_configs"] and list(by_name["tier2"]) == ["pagerduty_configs"]
    slack, = by_name["tier1"]["slack_configs"]
    assert "@alice:example.com" in slack["text"] and "@bob:example.com" in slack["text"]
    pagerduty, = by_name["tier2"]["pagerduty_configs"]
    assert pagerduty["url"] == "https://events.pagerduty.com/v2/enqueue"
    assert pagerduty["details"]["call"] == "Carol Diaz (+44 20 7946 0103), Acme Hosting on-call desk (+44 20 7946 0199)"


@pytest.mark.parametrize("send_resolved", [True, False])
def test_every_channel_says_when_an_alert_resolves_as_the_settings_ask(prod, send_resolved):
    host_settings = monitor_settings(prod)
    asked = host_settings.model_copy(update={"monitoring": host_settings.monitoring.model_copy(
        update={"send_resolved": send_resolved})})
    entries = [entry for tier in receivers(alertmanager_config(asked)).values() for configs in tier.values()
               for entry in configs]
    assert len(entries) >= 2 and {entry["send_resolved"] for entry in entries} == {send_resolved}


def test_secrets_go_to_files_alertmanager_alone_reads(prod):
    files = {file.path: file for file in alertmanager_config(monitor_settings(prod))}
    slack, = receivers(files.values())["tier1"]["slack_configs"]
    pagerduty, = receivers(files.values())["tier2"]["pagerduty_configs"]
    webhook, key = files[slack["api_url_file"]], files[pagerduty["routing_key_file"]]
    assert webhook.content == "https://hooks.slack.com/services/T00/B00/fake-hook"
    assert key.content == FAKE_CHANNEL_ENV["HOLDFAST_PAGERDUTY_ROUTING_KEY"]
    for secret in (webhook, key):
        assert (secret.mode, secret.user, secret.group) == ("640", "root", "prometheus")
        assert secret.content.rsplit("/", 1)[-1] not in files[monitoring.ALERTMANAGER_CONFIG].content


def test_tickets_reach_the_first_tier_without_calling_anyone(prod):
    config = rendered(alertmanager_config(monitor_settings(prod)), monitoring.ALERTMANAGER_CONFIG)
    tickets = receivers([monitoring.ConfigFile(monitoring.ALERTMANAGER_CONFIG, config)])[monitoring.TICKETS_RECEIVER]
    assert list(tickets) == ["slack_configs"]
    assert config.index("matchers: ['severity=\"ticket\"']") < config.index("matchers: ['tier=\"tier1\"']")


def test_ntfy_gets_the_topic_from_the_environment_and_its_templates(project_copy):
    edit(project_copy / "group_data/all.py", '"chat": {"provider": "slack", "secret_env": "HOLDFAST_SLACK_WEBHOOK"}',
         '"chat": {"provider": "ntfy", "url": "https://ntfy.example.net", "secret_env": "NTFY_TOPIC", '
         '"token_env": "NTFY_TOKEN"}')
    environ = {**FAKE_DEPLOY_ENV, "NTFY_TOPIC": "holdfast-alerts-x1", "NTFY_TOKEN": "tk_fake"}
    files = {file.path: file for file in alertmanager_config(monitor_settings(read_inventory(PROD)), environ)}
    webhook, = receivers(files.values())["tier1"]["webhook_configs"]
    url = urllib.parse.urlsplit(webhook["url"])
    assert (url.netloc, url.path) == ("ntfy.example.net", "/holdfast-alerts-x1")
    query = dict(urllib.parse.parse_qsl(url.query))
    assert query["tpl"] == "1" and "{{.annotations.summary}}" in query["m"] and "Alice Martin" in query["m"]
    token = files[webhook["http_config"]["authorization"]["credentials_file"]]
    assert (token.content, token.mode) == ("tk_fake", "640")


# --- errors found while preparing the deploy -----------------------------------------


def test_a_channel_without_a_provider_stops_the_deploy(project_copy):
    edit(project_copy / "group_data/all.py",
         '"phone": {"provider": "pagerduty", "secret_env": "HOLDFAST_PAGERDUTY_ROUTING_KEY"},', "")
    message = prepare_error(read_inventory(PROD))
    assert ("group_data/all.py: escalation.tiers[1].channels = ['email', 'phone']: tier tier2 declares phone, but "
            "escalation.providers has no 'phone': expected a provider for it there (pagerduty)") in message


def test_a_provider_that_cannot_deliver_its_channel_stops_the_deploy(project_copy):
    edit(project_copy / "group_data/all.py", '"phone": {"provider": "pagerduty"', '"phone": {"provider": "slack"')
    assert ("escalation.providers.phone.provider = 'slack': expected one of pagerduty: slack cannot deliver phone"
            in prepare_error(read_inventory(PROD)))


def test_a_provider_secret_missing_from_the_environment_stops_the_deploy(prod):
    environ = {name: value for name, value in FAKE_DEPLOY_ENV.items() if name != "HOLDFAST_SLACK_WEBHOOK"}
    assert ("group_data/all.py: escalation.providers.chat.secret_env = 'HOLDFAST_SLACK_WEBHOOK': expected a variable "
            "set in the deploy's environment") in prepare_error(prod, environ)


# Alertmanager's webhook body (its documented fields) for tier 1's copy of a SiteDown.
NOTIFICATION = {
    "version": "4", "groupKey": "{}:{alertname=\"SiteDown\"}", "status": "firing", "receiver": "tier1",
    "groupLabels": {"alertname": "SiteDown", "host": "web1", "tier": "tier1"},
    "commonLabels": {"alertname": "SiteDown", "host": "web1", "tier": "tier1"}, "commonAnnotations": {},
    "externalURL": "http://mon1:9093", "truncatedAlerts": 0,
    "alerts": [{"status": "firing", "labels": {"alertname": "SiteDown", "host": "web1", "site": "shop"},
                "annotations": {"summary": "shop on web1 is down."}, "startsAt": "2026-11-27T12:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "0f"}],
}


def test_ntfy_makes_a_readable_message_of_alertmanagers_webhook(project_copy):
    """The ntfy receiver's URL, called with Alertmanager's webhook body (its documented
    fields), publishes a title and a message ntfy's templates fill (the ntfy double)."""
    edit(project_copy / "group_data/all.py", '"chat": {"provider": "slack", "secret_env": "HOLDFAST_SLACK_WEBHOOK"}',
         '"chat": {"provider": "ntfy", "secret_env": "NTFY_TOPIC"}')
    environ = {**FAKE_DEPLOY_ENV, "NTFY_TOPIC": "holdfast-x1"}
    webhook, = receivers(alertmanager_config(monitor_settings(read_inventory(PROD)), environ))["tier1"]["webhook_configs"]
    with NtfyDouble() as ntfy:
        url = urllib.parse.urlsplit(webhook["url"])
        request = urllib.request.Request(f"{ntfy.url}{url.path}?{url.query}", data=json.dumps(NOTIFICATION).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
    message, = ntfy.messages
    assert message["topic"] == "holdfast-x1" and message["title"] == "[firing] SiteDown (tier1)"
    assert message["message"] == "firing: shop on web1 is down.\nFor tier1: Alice Martin, Bob Okafor"


# --- one alert brain: Monit's events into Alertmanager ---------------------------------


def test_monit_sends_restarts_of_web_hosts_to_the_relays(monkeypatch):
    monkeypatch.chdir(FLEET)
    web = load_settings()["web1"]
    relays = ["http://10.0.0.5:9095/alerts"]
    files = {file.path: file for file in monit.config_files(web, None, relays)}
    script = files[monit.EVENT_SCRIPT]
    assert script.mode == "700" and f"RELAYS = {json.dumps(relays)}" in script.content
    nginx = files[f"{monit.CHECKS_DIR}/holdfast-nginx.conf"].content
    assert "\ncheck process nginx with pidfile" in nginx
    assert f'\n    restart program = "{monit.EVENT_SCRIPT} /bin/systemctl restart nginx.service"' in nginx
    assert monit.EVENT_SCRIPT not in {file.path for file in monit.config_files(web, None)}


def test_the_relay_knows_each_watched_host_by_its_address_and_posts_to_alertmanager(monkeypatch):
    monkeypatch.chdir(FLEET)
    lab = read_inventory("inventories/lab.py")
    (script,) = [f for f in monitoring.monit_relay_files(lab) if f.path.endswith(f"/{monitoring.MONIT_RELAY}")]
    senders = {address: name for name, addresses in group_addresses(lab, WATCHED_GROUP).items()
               for address in addresses}
    assert script.mode == "755"
    assert f'ThreadingHTTPServer(("0.0.0.0", {monitoring.MONIT_RELAY_PORT}), Relay)' in script.content
    assert len(senders) >= 2 and f"SENDERS = {json.dumps(senders, sort_keys=True)}" in script.content
    (service,) = [f for f in monitoring.monit_relay_files(lab) if f.path.endswith(".service")]
    assert f"\nExecStart={script.path}\n" in service.content
    assert f'ALERTMANAGER = "http://{monitoring.ALERTMANAGER_ADDRESS}/api/v2/alerts"' in script.content


class AlertmanagerStandIn(Double):
    """Alertmanager's POST /api/v2/alerts, for the relay to forward to."""

    def __init__(self):
        super().__init__()
        self.received: list = []

    def answer(self, method, path, query, body, headers) -> Answer:
        self.received.append((method, path, body))
        return Answer(200, "")


def served(tmp_path, name: str, **variables) -> tuple[subprocess.Popen, str]:
    """The monitor host's script ``name``, rendered and run here on a free loopback port:
    the process and its address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / f"{name}.py"
    script.write_text(render(f"monitoring/usr/local/sbin/{name}.j2", port=port, **variables))
    process = subprocess.Popen([sys.executable, str(script)])
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.1)
    return process, f"127.0.0.1:{port}"


def relay_process(tmp_path, senders: dict, alertmanager: str) -> tuple[subprocess.Popen, str]:
    """The rendered relay, run here: the process and its URL."""
    process, address = served(tmp_path, monitoring.MONIT_RELAY, senders=senders, alertmanager=alertmanager,
                              listen="127.0.0.1")
    return process, f"http://{address}/alerts"


def post(url: str, body) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize(("senders", "status", "forwarded"), [
    ({"127.0.0.1": "web1"}, 200, [{"labels": {"alertname": "MonitEvent", "host": "web1"}}]),
    ({"192.0.2.9": "web1"}, 403, []),
])
def test_the_relay_forwards_only_watched_hosts_events_each_named_by_its_sender(tmp_path, senders, status, forwarded):
    with AlertmanagerStandIn() as alertmanager:
        process, url = relay_process(tmp_path, senders, alertmanager.url.removeprefix("http://"))
        try:
            assert post(url, [{"labels": {"alertname": "MonitEvent", "host": "web2"}}]) == status
        finally:
            process.terminate()
            process.wait()
    assert [body for method, path, body in alertmanager.received if path == "/api/v2/alerts"] == (
        [forwarded] if forwarded else [])


@pytest.mark.parametrize(("command", "code", "event"), [("true", 0, "restarted"), ("false", 1, "restart failed (1)")])
def test_the_event_script_restarts_then_sends_the_event(tmp_path, monkeypatch, command, code, event):
    monkeypatch.chdir(FLEET)
    with AlertmanagerStandIn() as relay:
        script = tmp_path / "event.py"
        script.write_text(monit.event_script(load_settings()["web1"], [f"{relay.url}/alerts"]).content)
        environ = {"MONIT_SERVICE": "nginx", "MONIT_HOST": "web1", "MONIT_DESCRIPTION": "process is not running"}
        assert subprocess.run([sys.executable, str(script), command], env=environ).returncode == code
    (_, path, alerts), = relay.received
    labels = alerts[0]["labels"]
    assert path == "/alerts" and labels.pop("at").endswith("Z") and labels == {
        "alertname": "MonitEvent", "check": "nginx", "event": event, "tier": "tier1", "severity": "ticket"}
    assert alerts[0]["annotations"]["summary"] == f"Monit on web1: nginx: {event} (process is not running)"


# --- Matrix: through the bridge on the monitor host's loopback -------------------------

MATRIX_ROOM = "!holdfast:example.org"
MATRIX_TOKEN = "mx_fake"  # (7 characters: the audit takes longer values of a "token" for secrets)


def matrix_files(project_copy, homeserver: str) -> dict:
    """The monitor host's Alertmanager and bridge files with chat through a Matrix room on ``homeserver``."""
    edit(project_copy / "group_data/all.py", '"chat": {"provider": "slack", "secret_env": "HOLDFAST_SLACK_WEBHOOK"}',
         f'"chat": {{"provider": "matrix", "url": "{homeserver}", "room": "{MATRIX_ROOM}", '
         '"secret_env": "MATRIX_TOKEN"}')
    host_settings = monitor_settings(read_inventory(PROD))
    files = [*alertmanager_config(host_settings, {**FAKE_DEPLOY_ENV, "MATRIX_TOKEN": MATRIX_TOKEN}),
             *monitoring.matrix_bridge_files(host_settings.escalation)]
    return {file.path: file for file in files}


@pytest.mark.parametrize(("token", "status", "sent"), [(MATRIX_TOKEN, 200, 1), ("revoked", 502, 0)])
def test_matrix_gets_the_alert_as_a_message_mentioning_the_tier(project_copy, tmp_path, token, status, sent):
    with MatrixDouble(token, MATRIX_ROOM) as homeserver:
        files = matrix_files(project_copy, homeserver.url)
        webhook, = receivers(files.values())["tier1"]["webhook_configs"]
        target = files[f"{monitoring.CONFIG_DIR}/alertmanager-chat-matrix"]
        # The bridge the deploy installs reads that file; the one run here, a copy of it.
        assert json.dumps({"chat": target.path}) in files[f"/usr/local/sbin/{monitoring.MATRIX_BRIDGE}"].content
        assert (target.mode, target.group) == ("640", "prometheus")
        assert MATRIX_TOKEN not in files[monitoring.ALERTMANAGER_CONFIG].content
        (tmp_path / "target").write_text(target.content)
        process, address = served(tmp_path, monitoring.MATRIX_BRIDGE, targets={"chat": str(tmp_path / "target")})
        try:
            url = urllib.parse.urlsplit(webhook["url"])
            assert (url.netloc, url.path) == (f"127.0.0.1:{matrix.BRIDGE_PORT}", "/chat")
            assert post(f"http://{address}{url.path}?{url.query}", NOTIFICATION) == status
        finally:
            process.terminate()
            process.wait()
    assert [request.method for request in homeserver.requests] == ["PUT"]
    assert len(homeserver.events) == sent
    for event in homeserver.events:
        assert (event["type"], event["content"]["msgtype"]) == ("m.room.message", "m.text")
        assert event["content"]["body"] == (
            "[FIRING] SiteDown on web1 (tier1)\n"
            "For tier1: Alice Martin (@alice:example.com), Bob Okafor (@bob:example.com)\n"
            "FIRING since 2026-11-27T12:00:00Z: shop on web1 is down.")
        assert event["content"]["m.mentions"] == {"user_ids": ["@alice:example.com", "@bob:example.com"]}


def test_no_bridge_while_no_channel_goes_to_matrix(prod):
    assert monitoring.matrix_bridge_files(monitor_settings(prod).escalation) == []


def test_the_bridge_listens_where_alertmanager_posts(project_copy):
    bridge = [f for f in matrix_files(project_copy, "https://matrix.example.org").values()
              if f.path.endswith(f"/{monitoring.MATRIX_BRIDGE}")]
    (script,) = bridge
    assert script.mode == "755"
    assert f'ThreadingHTTPServer(("127.0.0.1", {matrix.BRIDGE_PORT}), Bridge)' in script.content


def test_matrix_without_its_room_stops_the_deploy(project_copy):
    edit(project_copy / "group_data/all.py", '"chat": {"provider": "slack", "secret_env": "HOLDFAST_SLACK_WEBHOOK"}',
         '"chat": {"provider": "matrix", "secret_env": "HOLDFAST_SLACK_WEBHOOK"}')
    assert ("group_data/all.py: escalation.providers.chat.room = None: expected the Matrix room's ID "
            "(e.g. '!abcdefgh:example.org') for provider matrix") in prepare_error(read_inventory(PROD))


def delivery(provider: str, contacts, secret: str, token: str | None = None, **provider_fields):
    return channels.Delivery(
        channel="chat", provider=settings.ChannelProvider(provider=provider, secret_env="CHAT_SECRET", **provider_fields),
        tier=settings.Tier(name="tier1", members=["a"], channels=["chat"]), contacts=contacts, secret=secret,
        token=token, secret_dir=monitoring.CONFIG_DIR, send_resolved=True)


def contact(name: str, chat: str | None) -> settings.Contact:
    return settings.Contact(name=name, role="ops", email=f"{name.lower()}@example.com", chat=chat)


def test_ntfy_s_entry_quotes_the_topic_and_sends_resolved_alerts():
    key, entry, secrets = ntfy.receiver(delivery("ntfy", [contact("Ann", None)], "team/alerts x", token="tk"))
    assert key == "webhook_configs" and entry["send_resolved"] is True
    assert entry["url"].startswith("https://ntfy.sh/team%2Falerts%20x?tpl=1&")
    assert secrets == {f"{monitoring.CONFIG_DIR}/alertmanager-chat-token": "tk"}
    assert entry["http_config"] == {"authorization": {"credentials_file": f"{monitoring.CONFIG_DIR}/alertmanager-chat-token"}}
    assert "http_config" not in ntfy.receiver(delivery("ntfy", [contact("Ann", None)], "t"))[1]


def test_matrix_mentions_only_matrix_user_ids_and_sends_resolved_alerts():
    people = [contact("Ann", "@ann:example.org"), contact("Bo", "bo"), contact("Cy", None)]
    key, entry, secrets = matrix.receiver(delivery("matrix", people, "syt_x", room="!room:example.org"))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(entry["url"]).query)
    assert key == "webhook_configs" and entry["send_resolved"] is True
    assert query == {"who": ["Ann (@ann:example.org), Bo (bo), Cy"], "mention": ["@ann:example.org"]}
    assert json.loads(secrets[f"{monitoring.CONFIG_DIR}/alertmanager-chat-matrix"]) == {
        "url": "https://matrix-client.matrix.org", "room": "!room:example.org", "token": "syt_x"}


def test_pagerduty_s_event_names_the_tier_the_numbers_to_call_and_the_alerts():
    ann = contact("Ann", None).model_copy(update={"phone": "+44 20 7946 0101"})
    key, entry, secrets = pagerduty.receiver(delivery("pagerduty", [ann, contact("Bo", None)], "routing-key-x"))
    key_file = f"{monitoring.CONFIG_DIR}/alertmanager-chat-routing-key"
    assert (key, secrets) == ("pagerduty_configs", {key_file: "routing-key-x"})
    assert entry == {
        "routing_key_file": key_file, "url": "https://events.pagerduty.com/v2/enqueue", "send_resolved": True,
        "severity": "critical", "description": channels.TITLE,
        "details": {"tier": "tier1", "call": "Ann (+44 20 7946 0101), Bo", "by": "chat", "alerts": channels.ALERT_LINES},
    }


def test_slack_s_message_names_the_tier_and_its_members_by_handle():
    key, entry, secrets = slack.receiver(delivery("slack", [contact("Ann", "@ann"), contact("Bo", None)], "/T0/B0/x/"))
    url_file = f"{monitoring.CONFIG_DIR}/alertmanager-chat-webhook"
    assert (key, secrets) == ("slack_configs", {url_file: "https://hooks.slack.com/services/T0/B0/x"})
    assert entry == {"api_url_file": url_file, "send_resolved": True, "title": channels.TITLE,
                     "text": f"For tier1: Ann (@ann), Bo\n{channels.ALERT_LINES}"}
