"""Maintenance windows: what is asked for, the silence, and what runs on the host."""

import json
import shutil
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta, timezone

import pytest

from holdfast import maintenance, settings, status
from holdfast.providers import healthchecks
from lab.doubles import Answer
from lab.doubles.healthchecks import HealthchecksDouble
from lab.doubles.uptimerobot import UptimeRobotDouble
from tests.conftest import FLEET, executable, load_settings

NOW = datetime(2026, 11, 27, 13, 0, 0, tzinfo=UTC)


def test_a_window_needs_a_duration_and_a_reason():
    assert maintenance.window("web1", "30m", " kernel ", "nginx,cron") == maintenance.Window(
        "web1", 1800, "kernel", ("nginx", "cron"))
    with pytest.raises(ValueError, match=r"FOR='soon': expected a duration such as 40s"):
        maintenance.window("web1", "soon", "kernel")
    with pytest.raises(ValueError) as raised:
        maintenance.window("web1", "30m", " ")
    assert str(raised.value) == "REASON is empty: say why (it is the silence's comment and shown by status)"
    assert maintenance.window("web1", "1s", "a quick look").seconds == 1


def test_the_silences_match_the_host_and_its_service_addresses_and_end_with_the_window():
    host, primary = maintenance.window("web1", "40s", "kernel").silences(NOW)
    assert host["matchers"] == [{"name": "host", "value": "web1", "isRegex": False, "isEqual": True}]
    assert primary["matchers"] == [{"name": "primary", "value": "web1", "isRegex": False, "isEqual": True}]
    for silence in (host, primary):
        assert (silence["startsAt"], silence["endsAt"]) == ("2026-11-27T13:00:00+00:00", "2026-11-27T13:00:40+00:00")
        assert silence["comment"] == "kernel"
        assert silence["createdBy"] == maintenance.CREATED_BY
    # Alertmanager's times are UTC, whatever the control machine's zone.
    east = maintenance.window("web1", "40s", "kernel").silences(NOW.astimezone(timezone(timedelta(hours=2))))[0]
    assert (east["startsAt"], east["endsAt"]) == ("2026-11-27T13:00:00+00:00", "2026-11-27T13:00:40+00:00")


def test_the_host_stops_acting_and_schedules_its_own_end():
    script = maintenance.start_script(maintenance.window("web1", "40s", "kernel", "nginx"), NOW)
    assert "monit unmonitor nginx" in script and "monit unmonitor all" not in script
    assert f"systemctl enable --now --quiet {maintenance.TIMER_UNIT}.timer" in script
    # The timer and `end` run the same script: monitor the same checks again, forget the window.
    assert f"/bin/sh {maintenance.END_SCRIPT}" in script and f"/bin/sh {maintenance.END_SCRIPT}" in maintenance.end_script()
    assert "monit monitor nginx" in script and maintenance.WINDOW_FILE in script
    assert "monit unmonitor all" in maintenance.start_script(maintenance.window("web1", "1h", "x"), NOW)
    assert "heartbeat" not in script


def test_the_end_is_a_timer_that_survives_a_reboot(tmp_path):
    """Unit files (not a transient unit, which a reboot forgets): the timer fires the window's
    length after it starts and, by calendar in UTC, at the end computed by the host's own
    clock, which Persistent keeps over a reboot; systemd accepts both files."""
    script = maintenance.timer_units(40).replace("/etc/systemd/system", str(tmp_path))
    before = datetime.now(UTC)
    subprocess.run(["sh", "-c", script], check=True)
    after = datetime.now(UTC)
    timer = (tmp_path / f"{maintenance.TIMER_UNIT}.timer").read_text()
    (calendar,) = [line.removeprefix("OnCalendar=") for line in timer.splitlines() if line.startswith("OnCalendar=")]
    end = datetime.strptime(calendar, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    assert before.replace(microsecond=0) + timedelta(seconds=40) <= end <= after + timedelta(seconds=40)
    assert {"OnActiveSec=40s", "Persistent=true", "AccuracySec=1s", "WantedBy=timers.target"} <= set(timer.splitlines())
    service = (tmp_path / f"{maintenance.TIMER_UNIT}.service").read_text()
    assert f"ExecStart=/bin/sh {maintenance.END_SCRIPT}" in service.splitlines() and "Type=oneshot" in service
    if shutil.which("systemd-analyze"):
        verified = subprocess.run(["systemd-analyze", "verify", tmp_path / f"{maintenance.TIMER_UNIT}.timer"],
                                  capture_output=True, text=True)
        assert verified.returncode == 0 and maintenance.TIMER_UNIT not in verified.stderr, verified.stderr


def run_on_a_stand_in_host(tmp_path, script: str) -> list[str]:
    """``script`` run by sh with /var/lib/holdfast and /etc/systemd/system under ``tmp_path``
    and stand-ins of systemctl and monit that record their calls; the calls."""
    calls = tmp_path / "calls"
    calls.touch()
    for command in ("systemctl", "monit"):
        executable(tmp_path / command, f'#!/bin/sh\necho "{command} $*" >> {calls}\n')
    (tmp_path / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    for directory in ("/var/lib/holdfast", "/etc/systemd/system"):
        script = script.replace(directory, f"{tmp_path}{directory}")
    subprocess.run(["sh", "-c", script], check=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    calls_made = calls.read_text().splitlines()
    calls.write_text("")
    return calls_made


def test_the_window_runs_on_the_host_and_its_end_undoes_it(tmp_path):
    """The start script, then the end the timer runs: Monit stops acting on the named checks,
    the window is recorded for status, the end script monitors each again and forgets it."""
    window = maintenance.window("web1", "40s", "kernel update", "nginx php8.2-fpm")
    started = run_on_a_stand_in_host(tmp_path, maintenance.start_script(window, NOW.astimezone(
        timezone(timedelta(hours=-5)))))
    assert started[-4:] == ["monit unmonitor nginx", "monit unmonitor php8.2-fpm", "systemctl daemon-reload",
                            f"systemctl enable --now --quiet {maintenance.TIMER_UNIT}.timer"]
    timer = tmp_path / f"etc/systemd/system/{maintenance.TIMER_UNIT}.timer"
    assert "OnActiveSec=40s" in timer.read_text().splitlines()
    recorded = tmp_path / maintenance.WINDOW_FILE.removeprefix("/")
    assert json.loads(recorded.read_text()) == {
        "until": "2026-11-27T13:00:40+00:00", "reason": "kernel update", "services": ["nginx", "php8.2-fpm"]}
    assert status.window(recorded.read_text())["until"] == "2026-11-27T13:00:40+00:00"
    ended = run_on_a_stand_in_host(tmp_path, maintenance.end_script())
    assert ended == [f"systemctl stop {maintenance.TIMER_UNIT}.timer", "monit monitor nginx",
                     "monit monitor php8.2-fpm", f"systemctl disable --now {maintenance.TIMER_UNIT}.timer",
                     "systemctl daemon-reload"]
    assert not recorded.exists() and not (tmp_path / maintenance.END_SCRIPT.removeprefix("/")).exists()
    assert not timer.exists() and not timer.with_suffix(".service").exists()
    assert run_on_a_stand_in_host(tmp_path, maintenance.end_script())[1:] == ["monit monitor all"]


def test_a_paused_heartbeat_stops_for_the_window_and_its_end_starts_it(tmp_path):
    window = maintenance.window("web1", "40s", "kernel update")
    started = run_on_a_stand_in_host(tmp_path, maintenance.start_script(window, NOW, heartbeat_paused=True))
    assert started[-5:-2] == ["monit unmonitor all", "systemctl disable --now --quiet holdfast-heartbeat.timer",
                              "systemctl stop holdfast-heartbeat.service"]
    ended = run_on_a_stand_in_host(tmp_path, maintenance.end_script())
    # Started again at once: its first ping resumes the paused check.
    assert ended[1:4] == ["monit monitor all", "systemctl enable --now holdfast-heartbeat.timer",
                          "systemctl start --no-block holdfast-heartbeat.service"]


@pytest.fixture
def checks(monkeypatch):
    """Healthchecks.io with Holdfast's check of web1 and mon1, and one of web1's slug made by
    someone else."""
    with HealthchecksDouble("hc-key") as double:
        hosted = settings.HostedMonitors(healthchecks={"api_url": f"{double.url}/api/v3"})
        for host in ("web1", "mon1"):
            double.add_check(name=host, slug=healthchecks.slug(hosted.tag, host), tags=hosted.tag)
        double.add_check(name="theirs", slug=healthchecks.slug(hosted.tag, "web1"), tags="other")
        yield double, hosted


def test_a_window_pauses_the_host_s_own_check_which_its_next_ping_resumes(checks):
    double, hosted = checks
    environ = {hosted.healthchecks.api_key_env: "hc-key"}
    found, why_not = maintenance.heartbeat_check(hosted, "web1", False, environ)
    assert why_not == "" and found.check.name == "web1" and double.writes == []  # read before the host is touched
    assert maintenance.pause_heartbeat(found, "web1") == (
        "Healthchecks.io: check 'web1' paused, web1's heartbeat stopped until the window ends (its first ping "
        "then resumes the check)")
    assert {c["name"]: c["status"] for c in double.checks.values()} == {"web1": "paused", "mon1": "new",
                                                                         "theirs": "new"}
    urllib.request.urlopen(f"{double.url}/ping/{found.check.id}", timeout=5).read()
    assert double.checks[found.check.id]["status"] == "up"


def test_a_window_leaves_a_check_alone_when_it_cannot_or_must_not_pause_it(checks):
    double, hosted = checks
    environ = {hosted.healthchecks.api_key_env: "hc-key"}
    key_env = hosted.healthchecks.api_key_env
    assert maintenance.heartbeat_check(hosted, "mon1", True, environ) == (
        None, "Healthchecks.io: mon1's check not paused: a monitor host's heartbeat is what tells of it if it "
              "does not come back")
    assert maintenance.heartbeat_check(hosted, "web1", False, {}) == (
        None, f"Healthchecks.io: web1's check not paused, {key_env} is not set")
    assert maintenance.heartbeat_check(hosted, "web9", False, environ) == (
        None, "Healthchecks.io: web9 has no check of Holdfast's to pause")
    assert double.writes == [] and {c["status"] for c in double.checks.values()} == {"new"}
    with pytest.raises(maintenance.MaintenanceError, match=r"^Healthchecks.io: .*401.*; nothing was changed$"):
        maintenance.heartbeat_check(hosted, "web1", False, {key_env: "wrong"})


def test_a_pause_refused_after_the_heartbeat_stopped_says_so(checks):
    double, hosted = checks
    found, _ = maintenance.heartbeat_check(hosted, "web1", False, {hosted.healthchecks.api_key_env: "hc-key"})
    double.fail(Answer(400, {"error": "no"}), ("POST",), "/api/v3/checks/")
    with pytest.raises(maintenance.MaintenanceError) as raised:
        maintenance.pause_heartbeat(found, "web1")
    assert str(raised.value).endswith(": web1's heartbeat is stopped for the window but its check is not paused "
                                      "(`end` starts the heartbeat again)")


def test_the_window_s_times_are_utc_on_a_machine_set_to_another_zone(monkeypatch, tmp_path):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        window = maintenance.window("web1", "40s", "kernel")
        assert {(s["startsAt"], s["endsAt"]) for s in window.silences(NOW)} == {
            ("2026-11-27T13:00:00+00:00", "2026-11-27T13:00:40+00:00")}
        run_on_a_stand_in_host(tmp_path, maintenance.start_script(window, NOW))
        recorded = json.loads((tmp_path / maintenance.WINDOW_FILE.removeprefix("/")).read_text())
        assert recorded["until"] == "2026-11-27T13:00:40+00:00"
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.fixture
def sites(monkeypatch):
    """The sample fleet with shop served by web1 alone, UptimeRobot's double (its account in
    Tokyo) with Holdfast's monitor of shop and one of the same name made by someone else."""
    monkeypatch.chdir(FLEET)
    fleet = load_settings("inventories/prod.py")
    fleet["web2.example.com"] = fleet["web2.example.com"].model_copy(update={"sites": {}})
    with UptimeRobotDouble("ur-key", time_zone="Asia/Tokyo") as double:
        for name, host_settings in fleet.items():
            fleet[name] = host_settings.model_copy(update={"hosted_monitors": settings.HostedMonitors(
                uptimerobot={"api_url": f"{double.url}/v3", "time_zone": "Asia/Tokyo"})})
        ours = double.add_monitor(friendlyName="shop", url="https://shop.example.com/", tagNames=["holdfast"])
        double.add_monitor(friendlyName="shop", url="https://shop.example.com/theirs")
        yield fleet, double, ours["id"]


def test_a_window_keeps_uptimerobot_off_the_sites_its_host_serves_alone_until_it_ends(sites):
    fleet, double, shop = sites
    hosted = fleet["web1.example.com"].hosted_monitors
    environ = {hosted.uptimerobot.api_key_env: "ur-key"}
    found, why_not = maintenance.site_monitors(fleet, "web1.example.com", environ)
    assert why_not == "" and [m.id for m in found.monitors] == [str(shop)] and double.writes == []
    window = maintenance.window("web1.example.com", "90s", "kernel")
    (done,) = maintenance.pause_sites(found, hosted, window, NOW)
    assert done.startswith("UptimeRobot: maintenance window ") and done.endswith(
        " over shop (served by web1.example.com alone) for 90s")
    # Written in the account's zone: 22:00 in Tokyo is NOW; whole minutes, rounded up.
    (opened,) = double.windows.values()
    assert (opened["date"], opened["time"], opened["duration"], opened["monitorIds"]) == (
        "2026-11-27", "22:00:00", 2, [shop])
    assert double.covering(shop, NOW) and double.covering(shop, NOW + timedelta(seconds=119))
    assert not double.covering(shop, NOW + timedelta(seconds=120)) and not double.covering(shop, NOW - timedelta(1))
    # `holdfast status` lists it (the monitor itself reads as usual meanwhile).
    assert status.hosted_lines(fleet, environ)[:2] == [
        "UptimeRobot: shop: STARTED",
        f"UptimeRobot: maintenance window {opened['id']} 'holdfast maintenance of web1.example.com: kernel': from "
        f"2026-11-27 22:00:00 (Asia/Tokyo) for 2 min, monitors {shop}"]
    # A new window replaces the host's open one; the end deletes it.
    maintenance.pause_sites(found, hosted, window, NOW + timedelta(minutes=1))
    assert [w["time"] for w in double.windows.values()] == ["22:01:00"]
    (left,) = double.windows
    assert maintenance.resume_sites(hosted, "web1.example.com", environ) == [
        f"UptimeRobot: maintenance window {left} deleted"]
    assert double.windows == {} and maintenance.resume_sites(hosted, "web1.example.com", {}) == []


def test_a_window_written_in_another_zone_than_the_account_s_would_miss_the_window(sites):
    fleet, double, shop = sites
    hosted = fleet["web1.example.com"].hosted_monitors
    environ = {hosted.uptimerobot.api_key_env: "ur-key"}
    found, _ = maintenance.site_monitors(fleet, "web1.example.com", environ)
    utc = hosted.model_copy(update={"uptimerobot": hosted.uptimerobot.model_copy(update={"time_zone": "UTC"})})
    maintenance.pause_sites(found, utc, maintenance.window("web1.example.com", "30m", "kernel"), NOW)
    assert not double.covering(shop, NOW)


def test_a_site_another_host_serves_stays_watched_and_nothing_is_paused_without_the_key(sites):
    fleet, double, _ = sites
    hosted = fleet["web1.example.com"].hosted_monitors
    key_env = hosted.uptimerobot.api_key_env
    fleet["web2.example.com"] = fleet["web2.example.com"].model_copy(
        update={"sites": fleet["web1.example.com"].sites})
    assert maintenance.site_monitors(fleet, "web1.example.com", {key_env: "ur-key"}) == (
        None, "UptimeRobot: no site served by web1.example.com alone: every site stays watched")
    fleet["web2.example.com"] = fleet["web2.example.com"].model_copy(update={"sites": {}})
    assert maintenance.site_monitors(fleet, "web1.example.com", {}) == (
        None, f"UptimeRobot: shop still watched, {key_env} is not set")
    double.monitors.clear()
    assert maintenance.site_monitors(fleet, "web1.example.com", {key_env: "ur-key"}) == (
        None, "UptimeRobot: no monitor of Holdfast's for shop")
    assert double.writes == []
    with pytest.raises(maintenance.MaintenanceError, match=r"^UptimeRobot: .*401.*; nothing was changed$"):
        maintenance.site_monitors(fleet, "web1.example.com", {key_env: "wrong"})


def test_a_window_uptimerobot_refuses_stops_before_any_host_is_touched(sites):
    fleet, double, _ = sites
    hosted = fleet["web1.example.com"].hosted_monitors
    found, _ = maintenance.site_monitors(fleet, "web1.example.com", {hosted.uptimerobot.api_key_env: "ur-key"})
    window = maintenance.window("web1.example.com", "30m", "kernel")
    with pytest.raises(maintenance.MaintenanceError) as raised:
        maintenance.pause_sites(found, hosted, window.__class__(window.host, 0, "kernel"), NOW)
    assert str(raised.value) == ("UptimeRobot: create the maintenance window of web1.example.com: HTTP 400: "
                                 "duration must not be less than 1; no host was changed")
    assert double.windows == {}
