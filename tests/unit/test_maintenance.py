"""Maintenance windows: what is asked for, the silence, and what runs on the host."""

from datetime import UTC, datetime

import pytest

from holdfast import maintenance, status

NOW = datetime(2026, 11, 27, 13, 0, 0, tzinfo=UTC)


def test_a_window_needs_a_duration_and_a_reason():
    assert maintenance.window("web1", "30m", " kernel ", "nginx,cron") == maintenance.Window(
        "web1", 1800, "kernel", ("nginx", "cron"))
    with pytest.raises(ValueError, match=r"FOR='soon': expected a duration such as 40s"):
        maintenance.window("web1", "soon", "kernel")
    with pytest.raises(ValueError, match="REASON is empty"):
        maintenance.window("web1", "30m", " ")


def test_the_silences_match_the_host_and_its_service_addresses_and_end_with_the_window():
    host, primary = maintenance.window("web1", "40s", "kernel").silences(NOW)
    assert host["matchers"] == [{"name": "host", "value": "web1", "isRegex": False, "isEqual": True}]
    assert primary["matchers"] == [{"name": "primary", "value": "web1", "isRegex": False, "isEqual": True}]
    for silence in (host, primary):
        assert (silence["startsAt"], silence["endsAt"]) == ("2026-11-27T13:00:00+00:00", "2026-11-27T13:00:40+00:00")
        assert silence["comment"] == "kernel"


def test_the_host_stops_acting_and_schedules_its_own_end():
    script = maintenance.start_script(maintenance.window("web1", "40s", "kernel", "nginx"), NOW)
    assert "monit unmonitor nginx" in script and "monit unmonitor all" not in script
    assert f"systemd-run --quiet --unit={maintenance.TIMER_UNIT} --on-active=40s" in script
    # The timer and `end` run the same script: monitor the same checks again, forget the window.
    assert f"/bin/sh {maintenance.END_SCRIPT}" in script and f"/bin/sh {maintenance.END_SCRIPT}" in maintenance.end_script()
    assert "monit monitor nginx" in script and maintenance.WINDOW_FILE in script
    assert "monit unmonitor all" in maintenance.start_script(maintenance.window("web1", "1h", "x"), NOW)


def test_ending_expires_only_the_windows_silences_of_that_host():
    def silence(id_, host, by=maintenance.CREATED_BY, state="active", label="host"):
        return {"id": id_, "createdBy": by, "status": {"state": state},
                "matchers": [{"name": label, "value": host}]}

    found = [silence("a", "web1"), silence("b", "web2"), silence("c", "web1", by="someone"),
             silence("d", "web1", state="expired"), silence("e", "web1", state="pending"),
             silence("f", "web1", label="primary"), silence("g", "web1", label="site")]
    assert maintenance.window_silences(found, "web1") == ["a", "e", "f"]


def test_status_shows_an_open_window():
    recorded = '{"until": "2026-11-27T13:00:40+00:00", "reason": "kernel", "services": ["all"]}'
    host = status.HostStatus("web1", maintenance=status.window(recorded))
    assert "  MAINTENANCE until 2026-11-27T13:00:40+00:00 (all): kernel" in status.render_host(host)
    assert status.window("") == {}
