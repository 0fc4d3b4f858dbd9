"""Maintenance windows: what is asked for, the silence, and what runs on the host."""

import json
import subprocess
from datetime import UTC, datetime, timedelta, timezone

import pytest

from holdfast import maintenance, status
from tests.conftest import executable

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
    assert f"systemd-run --quiet --unit={maintenance.TIMER_UNIT} --on-active=40s" in script
    # The timer and `end` run the same script: monitor the same checks again, forget the window.
    assert f"/bin/sh {maintenance.END_SCRIPT}" in script and f"/bin/sh {maintenance.END_SCRIPT}" in maintenance.end_script()
    assert "monit monitor nginx" in script and maintenance.WINDOW_FILE in script
    assert "monit unmonitor all" in maintenance.start_script(maintenance.window("web1", "1h", "x"), NOW)


def run_on_a_stand_in_host(tmp_path, script: str) -> list[str]:
    """``script`` run by sh with /run/holdfast under ``tmp_path`` and stand-ins of systemctl,
    systemd-run and monit that record their calls; the calls."""
    calls = tmp_path / "calls"
    calls.touch()
    for command in ("systemctl", "systemd-run", "monit"):
        executable(tmp_path / command, f'#!/bin/sh\necho "{command} $*" >> {calls}\n')
    script = script.replace("/run/holdfast", str(tmp_path / "run/holdfast"))
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
    assert started[-3:] == [
        "monit unmonitor nginx", "monit unmonitor php8.2-fpm",
        f"systemd-run --quiet --unit={maintenance.TIMER_UNIT} --on-active=40s --timer-property=AccuracySec=1s "
        f"/bin/sh {tmp_path}{maintenance.END_SCRIPT}"]
    recorded = tmp_path / maintenance.WINDOW_FILE.removeprefix("/")
    assert json.loads(recorded.read_text()) == {
        "until": "2026-11-27T13:00:40+00:00", "reason": "kernel update", "services": ["nginx", "php8.2-fpm"]}
    assert status.window(recorded.read_text())["until"] == "2026-11-27T13:00:40+00:00"
    ended = run_on_a_stand_in_host(tmp_path, maintenance.end_script())
    assert ended == [f"systemctl stop {maintenance.TIMER_UNIT}.timer", "monit monitor nginx",
                     "monit monitor php8.2-fpm"]
    assert not recorded.exists() and not (tmp_path / maintenance.END_SCRIPT.removeprefix("/")).exists()
    assert run_on_a_stand_in_host(tmp_path, maintenance.end_script())[1:] == ["monit monitor all"]


def test_ending_expires_only_the_windows_silences_of_that_host():
    def silence(id_, host, by=maintenance.CREATED_BY, state="active", label="host"):
        return {"id": id_, "createdBy": by, "status": {"state": state},
                "matchers": [{"name": label, "value": host}]}

    found = [silence("a", "web1"), silence("b", "web2"), silence("c", "web1", by="someone"),
             silence("d", "web1", state="expired"), silence("e", "web1", state="pending"),
             silence("f", "web1", label="primary"), silence("g", "web1", label="site")]
    assert maintenance.window_silences(found, "web1") == ["a", "e", "f"]
    # A silence Alertmanager gives without a status or matchers is not the window's.
    assert maintenance.window_silences([{"id": "h", "createdBy": maintenance.CREATED_BY}], "web1") == []


def test_status_shows_an_open_window():
    recorded = '{"until": "2026-11-27T13:00:40+00:00", "reason": "kernel", "services": ["all"]}'
    host = status.HostStatus("web1", maintenance=status.window(recorded))
    assert "  MAINTENANCE until 2026-11-27T13:00:40+00:00 (all): kernel" in status.render_host(host)
    assert status.window("") == {}
