"""`make ack`: the silence it asks the monitor host's Alertmanager for, and the values it refuses."""

import shlex

import pytest

from holdfast import ack


def test_the_silence_carries_who_why_and_how_long():
    command = shlex.split(ack.silence_command("SiteDown", "2h", "rolling back; it's mine", "alice", "web1"))
    assert command == ["amtool", "--alertmanager.url=http://127.0.0.1:9093", "silence", "add", "--duration=7200s",
                       "--author=alice", "--comment=rolling back; it's mine", "alertname=SiteDown", "host=web1"]
    assert "--duration=1s" in ack.silence_command("SiteDown", "1s", "a blip", "alice", "web1")


def test_several_alerts_at_once():
    assert shlex.split(ack.silence_command("SiteDown|HostDown", "1h", "why", "a"))[-1] == "alertname=~SiteDown|HostDown"


def test_without_a_host_every_host_s_alert_is_silenced():
    assert shlex.split(ack.silence_command("HostDown", "30m", "why", "bob"))[-1] == "alertname=HostDown"


@pytest.mark.parametrize(("alert", "duration", "comment", "by", "host", "expected"), [
    ("Site Down", "1h", "why", "a", None,
     "ALERT='Site Down': expected alert names such as SiteDown, or SiteDown|HostDown (docs/RUNBOOK.md lists them)"),
    ("SiteDown|", "1h", "why", "a", None, "ALERT='': expected alert names"),
    ("SiteDown", "", "why", "a", None, "FOR='': expected a duration"),
    ("SiteDown", "soon", "why", "a", None, "FOR='soon': expected a duration"),
    ("SiteDown", "0s", "why", "a", None, "FOR='0s': expected a duration above 0"),
    ("SiteDown", "1h", " ", "a", None, "COMMENT is empty"),
    ("SiteDown", "1h", "why", "", None, "BY is empty"),
    ("SiteDown", "1h", "why", "a", "web1; rm -rf /", "HOST='web1; rm -rf /': expected a host name"),
])
def test_bad_values_are_refused_before_anything_runs(alert, duration, comment, by, host, expected):
    with pytest.raises(ack.AckError) as refused:
        ack.silence_command(alert, duration, comment, by, host)
    assert str(refused.value).startswith(expected)
