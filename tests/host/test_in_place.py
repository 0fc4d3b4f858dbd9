"""A deploy that changes nothing reads each host in a few commands (holdfast/planning.py,
holdfast/in_place.py), and a deploy still puts back whatever drifted, as that one read finds
it: a file's content or mode, a directory's, a stray file Holdfast owns, a disabled unit;
two at once (the first put back, the host has changed: the next operations read for themselves)."""

import pytest

from bench.deploy_times import ssh_commands
from holdfast.firewall import FIREWALL_STATE
from holdfast.monit import CHECKS_DIR
from holdfast.safe_config import APPLY_COMMAND
from lab.harness.deploys import run_deploy

pytestmark = pytest.mark.hosts("web")

# On a web host: what planning reads, the lock taken, held (with the one read), released.
MOST_COMMANDS = 4
STRAY = f"{CHECKS_DIR}/holdfast-stray.conf"
EXPORTER = "prometheus-node-exporter"

DRIFTS = {
    "directory-mode": (f"chmod 755 {FIREWALL_STATE}", f"stat -c %a {FIREWALL_STATE}", "700"),
    "file-content": (f"echo '# drift' >> {APPLY_COMMAND}", f"grep -c '^# drift' {APPLY_COMMAND} || true", "0"),
    "file-mode": (f"chmod 700 {APPLY_COMMAND}", f"stat -c %a {APPLY_COMMAND}", "755"),
    "stray-owned-file": (f"echo '# stray' > {STRAY}", f"test -e {STRAY} && echo there || echo gone", "gone"),
    "disabled-unit": (f"systemctl disable --quiet {EXPORTER}", f"systemctl is-enabled {EXPORTER} || true", "enabled"),
}


@pytest.mark.disruptive
def test_a_deploy_that_changes_nothing_runs_a_few_commands_on_each_host(pytestconfig):
    run = run_deploy(pytestconfig.getoption("inventory"), "--debug")
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed_operations == [], run.output[-3000:]
    counted = ssh_commands(run.output)
    print(f"SSH commands of a no-op deploy, per host: {dict(counted)}")
    assert counted and max(counted.values()) <= MOST_COMMANDS, counted


@pytest.mark.disruptive
@pytest.mark.parametrize("drifts", [[name] for name in DRIFTS] + [["directory-mode", "disabled-unit"]],
                         ids=[*DRIFTS, "two-at-once"])
def test_a_deploy_puts_back_what_drifted(pytestconfig, host, target, drifts):
    for name in drifts:
        host.check_output(DRIFTS[name][0])
    assert [host.check_output(DRIFTS[name][1]) for name in drifts] != [DRIFTS[name][2] for name in drifts]
    run = run_deploy(pytestconfig.getoption("inventory"), "--limit", target.name)
    assert run.returncode == 0, run.output[-3000:]
    assert len(run.changed_operations) >= len(drifts), run.changed_operations
    assert [host.check_output(DRIFTS[name][1]) for name in drifts] == [DRIFTS[name][2] for name in drifts]
    again = run_deploy(pytestconfig.getoption("inventory"), "--limit", target.name)
    assert again.returncode == 0 and again.changed_operations == [], again.output[-3000:]
