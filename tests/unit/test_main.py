"""`python -m holdfast`: the commands beside the deploy, each reaching its module with the
arguments given, and a refusal as a message and exit status 2."""

import pytest

from holdfast import maintenance, status
from holdfast.__main__ import main


def test_a_command_is_required_and_the_usage_names_the_program(capsys):
    with pytest.raises(SystemExit) as raised:
        main([])
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: python -m holdfast [-h] {check,status,maintenance,promote} ...\n")
    assert "the following arguments are required: command" in error


@pytest.fixture
def calls(monkeypatch):
    """maintenance's and status's entry points, recording what they are given (no host is reached)."""
    made = []
    monkeypatch.setattr(maintenance, "start", lambda inventory, window: made.append(("start", inventory, window))
                        or ["opened", "paused"])
    monkeypatch.setattr(maintenance, "end", lambda inventory, host: made.append(("end", inventory, host))
                        or ["ended", "resumed"])
    monkeypatch.setenv("HOLDFAST_TEST_MARK", "seen")
    monkeypatch.setattr(status, "gather", lambda inventory, environ: made.append(("gather", inventory))
                        or f"fleet{'' if environ.get('HOLDFAST_TEST_MARK') == 'seen' else ' without the environment'}")
    monkeypatch.setattr(status, "render", lambda fleet: f"screen of {fleet}")
    monkeypatch.setattr(status, "as_json", lambda fleet: f"json of {fleet}")
    return made


def test_maintenance_opens_a_window_with_what_was_asked(calls, capsys):
    assert main(["maintenance", "inv.py", "web1", "--for", "30m", "--reason", "kernel", "--services", "nginx cron"]) == 0
    assert calls == [("start", "inv.py", maintenance.Window("web1", 1800, "kernel", ("nginx", "cron")))]
    assert capsys.readouterr().out == "opened\npaused\n"


def test_a_window_without_services_covers_the_host(calls):
    assert main(["maintenance", "inv.py", "web1", "--for", "30m", "--reason", "kernel"]) == 0
    assert calls == [("start", "inv.py", maintenance.Window("web1", 1800, "kernel", ()))]


def test_a_window_without_a_reason_is_refused_before_any_host(calls, capsys):
    assert main(["maintenance", "inv.py", "web1", "--for", "30m"]) == 2
    assert calls == []
    assert capsys.readouterr().err == "REASON is empty: say why (it is the silence's comment and shown by status)\n"


def test_maintenance_end_closes_the_host_s_window(calls, capsys):
    assert main(["maintenance", "inv.py", "web1", "--end"]) == 0
    assert calls == [("end", "inv.py", "web1")] and capsys.readouterr().out == "ended\nresumed\n"


def test_a_window_without_a_duration_is_refused_before_any_host(calls, capsys):
    assert main(["maintenance", "inv.py", "web1", "--reason", "kernel"]) == 2
    assert calls == []
    assert capsys.readouterr().err == "FOR='': expected a duration such as 40s, 30m or 2h\n"


@pytest.mark.parametrize(("flags", "shown"), [([], "screen of fleet\n"), (["--json"], "json of fleet\n")])
def test_status_prints_the_screen_or_json(calls, capsys, flags, shown):
    assert main(["status", "inv.py", *flags]) == 0
    assert calls == [("gather", "inv.py")] and capsys.readouterr().out == shown


def help_lines(capsys, argv: list[str]) -> list[str]:
    """``argv``'s help, each line's words joined by one space."""
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 0
    return [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]


def test_the_help_says_what_each_command_and_option_does(capsys):
    lines = help_lines(capsys, ["--help"])
    assert "check group_data, rendered files and offline checks; no SSH" in lines
    assert "status the fleet at a glance (reads, changes nothing)" in lines
    assert "maintenance open (or end) a maintenance window on a host" in lines
    assert "--json the same as JSON" in help_lines(capsys, ["status", "--help"])
    lines = help_lines(capsys, ["maintenance", "--help"])
    for option in ("--for DURATION how long, e.g. 30m (required unless --end)", "--reason REASON why (the silence's comment)",
                   "--services SERVICES Monit checks to leave alone (default: all)", "--end end the host's window now"):
        assert option in lines
