"""Hosted monitors and heartbeats without hosts: their settings, the heartbeat's files."""

import shutil
import subprocess

import pytest

from holdfast import hosted_monitors, loading, settings
from holdfast.providers import healthchecks
from holdfast.templates import render
from tests.conftest import FLEET, append, edit, load_settings, settings_error


def test_production_uses_the_providers_and_their_usual_keys(monkeypatch):
    monkeypatch.chdir(FLEET)
    hosted = load_settings("inventories/prod.py")["web1.example.com"].hosted_monitors
    assert hosted.uptimerobot.api_url == "https://api.uptimerobot.com/v3"
    assert hosted.healthchecks.ping_key_env == "HOLDFAST_HEALTHCHECKS_PING_KEY"


def test_the_lab_points_at_its_doubles_on_the_bridge(monkeypatch):
    from lab.topology import LAB

    monkeypatch.chdir(FLEET)
    lab_host = load_settings()["web1"]
    assert lab_host.hosted_monitors.healthchecks.ping_url.startswith(f"http://{LAB.bridge_address}:")
    assert lab_host.heartbeat.every < lab_host.heartbeat.timeout


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"every": "10s"', '"every": "1m"',
         "heartbeat = {'every': '1m', 'timeout': '1m', 'grace': '1m'}: expected every (60s) shorter than "
         "timeout (60s)"),
        ('"grace": "1m"', '"grace": 30',
         "heartbeat.grace = 30: expected greater than or equal to 60"),
        ('"ping_url": f"{_doubles}:8471/ping"', '"ping_url": "hc-ping.com"',
         "hosted_monitors.healthchecks.ping_url = 'hc-ping.com': expected an http(s) URL"),
        ('"ping_key_env": "HOLDFAST_LAB_PING_KEY"', '"ping_key_env": "lab ping key"',
         "hosted_monitors.healthchecks.ping_key_env = 'lab ping key': expected an environment variable name"),
        ('"uptimerobot": {"api_url": f"{_doubles}:8470/v3"}',
         '"uptimerobot": {"api_url": f"{_doubles}:8470/v3", "time_zone": "Europe/Atlantis"}',
         "hosted_monitors.uptimerobot.time_zone = 'Europe/Atlantis': expected an IANA time zone such as 'UTC' or "
         "'Europe/Berlin'"),
        ('"uptimerobot": {"api_url": f"{_doubles}:8470/v3"}',
         '"uptimerobot": {"api_url": f"{_doubles}:8470/v3", "time_zone": "../../etc/passwd"}',
         "hosted_monitors.uptimerobot.time_zone = '../../etc/passwd': expected an IANA time zone"),
    ],
    ids=["every-not-under-timeout", "grace-under-a-minute", "ping-url-not-a-url", "env-name", "unknown-zone",
         "zone-a-path"],
)
def test_bad_values_name_file_key_and_form(project_copy, old, new, expected):
    edit(project_copy / "group_data/lab.py", old, new)
    assert f"group_data/lab.py: {expected}" in settings_error()


def test_hosted_monitors_must_be_the_same_on_every_host(project_copy):
    append(project_copy / "group_data/web.py", 'hosted_monitors = {"tag": "web-team"}')
    fleet = load_settings("inventories/prod.py")
    with pytest.raises(loading.SettingsError, match=r"hosted_monitors differs between hosts \(web1.example.com, "
                                                     r"web2.example.com: .*mon1.example.net: "):
        hosted_monitors.hosted_settings(fleet)


def test_a_check_slug_is_the_tag_and_the_host_name():
    assert healthchecks.slug("holdfast", "Web1.example.com") == "holdfast-web1-example-com"


def test_the_ping_url_holds_the_ping_key_and_the_slug():
    hosted = settings.HostedMonitors(healthchecks={"ping_url": "https://hc-ping.com/"})
    assert healthchecks.ping_url(hosted, "k3y", "web1") == "https://hc-ping.com/k3y/holdfast-web1"


def heartbeat_units(every: int = 60) -> dict[str, str]:
    unit_dir = hosted_monitors.UNIT_DIR.lstrip("/")
    return {
        "holdfast-heartbeat.service": render(f"heartbeat/{unit_dir}/holdfast-heartbeat.service.j2",
                                             curl_config=hosted_monitors.CURL_CONFIG),
        "holdfast-heartbeat.timer": render(f"heartbeat/{unit_dir}/holdfast-heartbeat.timer.j2", every=every),
    }


def test_the_timer_fires_every_heartbeat_period():
    timer = heartbeat_units(every=45)["holdfast-heartbeat.timer"]
    assert "OnBootSec=45s\n" in timer and "OnUnitActiveSec=45s\n" in timer


def test_the_ping_url_is_never_on_the_command_line():
    service = heartbeat_units()["holdfast-heartbeat.service"]
    assert f"--config {hosted_monitors.CURL_CONFIG}" in service and "http" not in service.split("ExecStart=")[1]


def test_curl_reads_the_url_from_its_config():
    config = render("heartbeat/etc/holdfast/heartbeat.curlrc.j2", url="http://127.0.0.1:9/k/holdfast-web1")
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("no curl on this machine")
    run = subprocess.run([curl, "--config", "-", "--silent", "--max-time", "2", "--write-out", "%{url}"],
                         input=config, capture_output=True, text=True)
    assert run.stdout == "http://127.0.0.1:9/k/holdfast-web1"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze on this machine")
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    for name, text in heartbeat_units().items():
        (tmp_path / name).write_text(text)
    verify = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / name) for name in heartbeat_units())],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
