"""The swap helper from the sysadmin's seat: ``pyinfra --dry --diff`` shows what Holdfast's
files would become (not the root-only ones, which may hold secrets), and ``make rollback``
puts a configuration's last good files back, validated, and nginx serves with them."""

import re
import subprocess

import pytest

from lab.harness import traffic
from lab.harness.deploys import PYINFRA, run_deploy
from lab.topology import LAB

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHANGED = re.compile(r"Will (?:modify|create) (/\S+)")


def diff_sections(output: str) -> dict[str, str]:
    """What ``--diff`` printed under each file it would change: path -> its lines."""
    sections: dict[str, str] = {}
    path = None
    for line in ANSI.sub("", output).splitlines():
        found = CHANGED.search(line)
        if found:
            path = found.group(1)
            sections[path] = ""
        elif path and line.startswith(" " * 6):
            sections[path] += line + "\n"
        else:
            path = None
    return sections


@pytest.mark.hosts("web")
def test_a_dry_diff_shows_the_change_of_holdfasts_files_but_not_of_secret_ones(pytestconfig, target, changed_project):
    # As a user runs it: without -y, pyinfra works out the changes (and shows the diffs) first.
    run = subprocess.run([PYINFRA, "--dry", "--diff", "--limit", target.name, pytestconfig.getoption("inventory"),
                          "deploy.py"], cwd=changed_project, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    sections = diff_sections(run.stdout + run.stderr)

    nginx = {path: lines for path, lines in sections.items() if path.startswith("/etc/nginx/")}
    assert any(re.search(r"^\s*\+ .*/cart", lines, re.M) for lines in nginx.values()), sections.keys()
    assert any(re.search(r"^\s*- .*xmlrpc", lines, re.M) for lines in nginx.values())

    monit = {path: lines for path, lines in sections.items() if path.startswith("/etc/monit/")}
    assert monit, f"the changed restart window changes a Monit check: {sections.keys()}"
    for path, lines in monit.items():
        assert "content not shown" in lines and not re.search(r"^\s*[-+@] ", lines, re.M), (path, lines)


def nginx_site(target) -> str:
    return target.testinfra.check_output("nginx -T 2>/dev/null")


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_a_rollback_restores_the_previous_nginx_configuration_and_nginx_serves_with_it(
        pytestconfig, target, settings, changed_project):
    inventory, limit = pytestconfig.getoption("inventory"), ("--limit", target.name)
    site = next(iter(settings.sites.values()))
    before = nginx_site(target)
    try:
        changed = run_deploy(inventory, *limit, cwd=changed_project)
        assert changed.returncode == 0, changed.output[-3000:]
        assert "/cart" in nginx_site(target)

        rollback = run_deploy(inventory, *limit, "--data", "rollback=nginx", deploy_file="rollback.py")
        assert rollback.returncode == 0, rollback.output[-3000:]
        assert nginx_site(target) == before
        answer = traffic.request(LAB.client_addresses["visitor"], target.address, site.server_names[0],
                                 site.content_path, tls=bool(site.tls))
        assert answer.status == 200 and site.content_expect in answer.body

        # Only nginx went back: the repository's deploy finds it as it wants it, the rest changed.
        again = run_deploy(inventory, *limit)
        assert again.returncode == 0, again.output[-3000:]
        assert not [each for each in again.changed_operations if each.startswith("nginx | nginx configuration")]
        assert "Monit | Monit configuration" in again.changed_operations
    finally:
        run_deploy(inventory, *limit)


@pytest.mark.disruptive  # it takes the deploy lock
@pytest.mark.hosts("web")
def test_a_rollback_of_a_configuration_never_swapped_changes_nothing_and_says_what_is_kept(pytestconfig, target):
    run = run_deploy(pytestconfig.getoption("inventory"), "--limit", target.name, "--data", "rollback=nginxx",
                     deploy_file="rollback.py")
    assert run.returncode != 0
    assert "no last good nginxx configuration" in run.output and "kept:" in run.output
