"""`make check`: an inventory checked offline, with the deploy's messages, without SSH."""

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from holdfast import check, inventory, monitoring
from holdfast.__main__ import main
from holdfast.safe_config import ConfigFile
from tests.conftest import FAKE_DEPLOY_ENV, FAKE_SMTP_ENV, REPO, append, edit

BROKEN_PORT = "group_data/all.py: mail.port = 'five': expected a whole number"


@pytest.fixture
def no_connection(monkeypatch):
    """Any connection from this process (pyinfra's, a provider's) or ssh to a host fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"make check tried to connect: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(inventory, "ssh_command", refuse)


def test_broken_production_data_is_refused_with_file_and_key_without_connecting(project_copy, no_connection,
                                                                              monkeypatch, capsys):
    for name, value in FAKE_SMTP_ENV.items():
        monkeypatch.setenv(name, value)
    edit(project_copy / "group_data/all.py", '"port": 587,', '"port": "five",')
    assert main(["check", "inventories/prod.py"]) == 2
    assert BROKEN_PORT in capsys.readouterr().err


def test_make_check_reads_production_and_fails_on_its_broken_data(project_copy):
    shutil.copy(REPO / "Makefile", project_copy / "Makefile")
    edit(project_copy / "inventories/prod.py", '"_sudo": True', '"_sudo": True, "disposable": "perhaps"')
    venv = Path(sys.executable).parent.parent  # this run's, taken as it is (-o)
    run = subprocess.run(["make", "-s", f"VENV={venv}", "-o", f"{venv}/.installed", "check"], cwd=project_copy,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0, run.stdout + run.stderr
    assert "the inventory (host web1.example.com): disposable = 'perhaps': expected True or False" in run.stderr


def test_the_lab_fleet_passes(project_copy, no_connection, monkeypatch, capsys):
    for name, value in FAKE_DEPLOY_ENV.items():  # the channels' secrets, as `make unit` exports the lab's
        monkeypatch.setenv(name, value)
    assert main(["check", "inventories/lab.py"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [re.sub(r": \d+ files", ": N files", line) for line in out[:3]] == [
        f"{h}: N files rendered" for h in ("web1", "web2", "mon1")]
    assert out[3:] == ["inventories/lab.py: group_data valid, every file rendered and checked; the audit's inventory "
                       "rules pass"]


def test_an_unacknowledged_audit_finding_fails(project_copy, no_connection, monkeypatch, capsys):
    for name, value in FAKE_DEPLOY_ENV.items():
        monkeypatch.setenv(name, value)
    edit(project_copy / "group_data/all.py", '"members": ["carol", "acme"]', '"members": ["acme"]')
    assert main(["check", "inventories/lab.py"]) == 1
    error = capsys.readouterr().err.splitlines()
    assert error[0] == "inventories/lab.py: 1 problem(s), fix them before a deploy:"
    assert error[1].startswith("  audit error: [tier-members] tier tier2: ") and error[2:] == []


def test_nginx_that_does_not_parse_is_a_problem():
    problems = check.file_problems([ConfigFile("/etc/nginx/nginx.conf", "events {\n")])
    assert problems == ['nginx (crossplane): /etc/nginx/nginx.conf: unexpected end of file, expecting "}" in '
                        '/etc/nginx/nginx.conf:1']


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_a_checker_reads_the_rendered_file_and_names_it_as_on_the_host():
    """promtool checks the rendered Prometheus configuration, not this machine's; amtool is
    not run when no Alertmanager configuration was rendered; the problem names the host's path."""
    good = ConfigFile(monitoring.PROMETHEUS_CONFIG, "global:\n  scrape_interval: 15s\n")
    assert check.file_problems([good]) == []
    (problem,) = check.file_problems([ConfigFile(monitoring.PROMETHEUS_CONFIG, "global:\n  scrape_interval: x\n")])
    assert problem.startswith(f"{monitoring.PROMETHEUS_CONFIG} (promtool): Checking {monitoring.PROMETHEUS_CONFIG}\n")
    assert problem.endswith(f"FAILED: parsing YAML file {monitoring.PROMETHEUS_CONFIG}: "
                            'not a valid duration string: "x"')


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_refuses_a_rule_that_is_no_promql(project_copy, no_connection, capsys):
    append(project_copy / "group_data/lab.py", 'monitoring["extra_rules"][0]["expr"] = "rate(up[5m"')
    assert main(["check", "inventories/lab.py"]) == 1
    assert "mon1: /etc/prometheus/prometheus.yml (promtool): " in capsys.readouterr().err


def test_each_problem_is_reported_on_a_line_of_its_own(monkeypatch, capsys):
    monkeypatch.setattr(check, "check", lambda inventory_path: (["web1: 3 files rendered"], ["first", "second"]))
    assert check.main("inventories/x.py") == 1
    assert capsys.readouterr().err == "inventories/x.py: 2 problem(s), fix them before a deploy:\n  first\n  second\n"


def test_what_gixy_finds_is_a_problem_with_its_report():
    """An alias in a location without its trailing slash (a path traversal) and nginx's
    version shown: gixy's report, whole, is the problem."""
    conf = "events {}\nhttp {\n  server {\n    listen 80;\n    location /files {\n      alias /srv/data/;\n    }\n  }\n}\n"
    (problem,) = check.file_problems([ConfigFile("/etc/nginx/nginx.conf", conf)])
    assert problem.startswith("nginx (gixy): ==================== Results ===================")
    assert "[alias_traversal]" in problem and "[version_disclosure]" in problem and "High: 2" in problem
