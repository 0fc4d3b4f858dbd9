"""The host firewall: from an address that is neither a monitor nor the office, only ssh
and the sites answer; the monitors scrape node_exporter; a ruleset that cuts the deploy's
own ssh is rolled back by the host itself, and the next deploy reaches it; tables
Holdfast did not write are left alone."""

import subprocess
import threading
import time

import pytest

from holdfast import firewall
from lab.harness.deploys import run_deploy
from lab.harness.probes import wait_for
from lab.harness.traffic import connects
from lab.topology import LAB
from tests.conftest import append, copy_project
from tests.host.test_monitoring import target_health

pytestmark = pytest.mark.hosts("web")

# A table of the kind fail2ban or Docker write: Holdfast's deploys must leave it as it is.
FOREIGN_TABLE = "ip holdfast_test_foreign"
STRAY_PORT = 8099  # a port no policy of the lab mentions


def live_comment(host) -> str:
    """The comment of the live table inet holdfast ('' when there is none)."""
    return host.check_output(
        f"nft list table {firewall.TABLE} 2>/dev/null | sed -n 's/^\\tcomment \"\\(.*\\)\"$/\\1/p'; true"
    )


def dropped(host) -> int:
    """Packets counted by the policy's final drop rule."""
    return int(host.check_output(
        f"nft list table {firewall.TABLE} | sed -n 's/.*counter packets \\([0-9]*\\) bytes [0-9]* drop .*/\\1/p'"
    ))


def monitors_of(targets) -> dict:
    return {name: target for name, target in targets.items() if "monitors" in target.groups}


def wanted_comment(target, targets) -> str:
    scrapers = {name: [monitor.address] for name, monitor in monitors_of(targets).items()}
    return firewall.table_comment(firewall.openings(target.settings, scrapers))


def over_new_ssh(target, script: str) -> str | None:
    """What ``script`` prints on the host over a new SSH connection from this machine (as
    the deploy makes one); None when none gets in."""
    lab_host = next(each for each in LAB.hosts if each.name == target.name)
    run = subprocess.run(LAB.ssh_command(lab_host, script, connect_timeout=2), capture_output=True, text=True)
    return run.stdout if run.returncode == 0 else None


def new_ssh_gets_in(target) -> bool:
    return over_new_ssh(target, "true") is not None


@pytest.fixture(scope="module")
def stray_listener(host):
    """A TCP server on every address of the host, on a port the policy does not mention."""
    host.check_output(f"systemd-run --unit=holdfast-test-stray --property=RuntimeMaxSec=300 "
                      f"python3 -m http.server {STRAY_PORT}")
    wait_for(lambda: host.run(f"ss -Hltn 'sport = :{STRAY_PORT}' | grep -q .").rc == 0, timeout=10)
    yield STRAY_PORT
    host.run("systemctl stop holdfast-test-stray")


def test_holdfasts_table_is_live_with_its_header(host, target, targets):
    ruleset = host.check_output("nft list ruleset")
    assert f"table {firewall.TABLE} {{" in ruleset
    assert live_comment(host) == wanted_comment(target, targets)
    assert host.file(firewall.RULESET).content_string.startswith("#!/usr/sbin/nft -f\n# Managed by Holdfast")
    assert host.service(f"{firewall.UNIT}.service").is_enabled


@pytest.mark.disruptive
def test_a_stranger_reaches_ssh_and_the_sites_only(host, target, stray_listener):
    visitor = LAB.client_addresses["visitor"]
    assert host.run(f"curl -sS -m 3 -o /dev/null http://127.0.0.1:{stray_listener}/").rc == 0  # it listens
    before = dropped(host)
    assert connects(visitor, target.address, 22)
    assert connects(visitor, target.address, 80)
    assert not connects(visitor, target.address, 9100)
    assert not connects(visitor, target.address, stray_listener)
    assert dropped(host) >= before + 2  # dropped (no answer at all), and counted


@pytest.mark.disruptive
def test_the_audit_warns_about_the_stray_listener(pytestconfig, target, stray_listener):
    run = run_deploy(pytestconfig.getoption("inventory"), "--dry", "--limit", target.name, deploy_file="audit.py")
    assert run.returncode == 0, run.output[-3000:]
    warnings = [line for line in run.output.splitlines() if "[exposure]" in line]
    assert len(warnings) == 1, run.output[-3000:]
    assert f"listens on tcp port {stray_listener} of address 0.0.0.0" in warnings[0]


def test_the_monitors_scrape_node_exporter_and_its_targets_stay_up(target, targets):
    for monitor in monitors_of(targets).values():
        assert monitor.testinfra.run(f"curl -sS -m 3 -o /dev/null http://{target.address}:9100/metrics").rc == 0
        assert target_health(monitor.testinfra, "nodes", host=target.name) == ["up"]


@pytest.fixture
def foreign_table(host):
    """A table with a forward chain, as Docker writes one, that Holdfast did not write."""
    host.check_output(f"nft add table {FOREIGN_TABLE} && nft add chain {FOREIGN_TABLE} forward "
                      "'{ type filter hook forward priority 0; policy accept; }' && "
                      f"nft add rule {FOREIGN_TABLE} forward counter accept")
    yield host.check_output(f"nft list table {FOREIGN_TABLE}")
    host.run(f"nft delete table {FOREIGN_TABLE}")


@pytest.mark.disruptive
def test_a_lost_table_is_put_back_and_other_tables_are_left_alone(pytestconfig, host, target, targets, foreign_table):
    host.check_output(f"nft delete table {firewall.TABLE}")
    run = run_deploy(pytestconfig.getoption("inventory"), "--limit", target.name)
    assert run.returncode == 0, run.output[-3000:]
    assert "Host firewall | Firewall ruleset (table inet holdfast)" in run.changed_operations
    assert live_comment(host) == wanted_comment(target, targets)
    assert host.check_output(f"nft list table {FOREIGN_TABLE}") == foreign_table


@pytest.mark.disruptive
def test_a_rollback_a_cut_deploy_left_pending_is_confirmed_by_the_next(pytestconfig, host, target):
    timer = f"{firewall.ROLLBACK_UNIT}.timer"
    host.check_output(f"{firewall.HELPER} apply 600")  # as a deploy cut before its confirmation leaves it
    assert host.run(f"systemctl is-active {timer}").rc == 0
    run = run_deploy(pytestconfig.getoption("inventory"), "--limit", target.name)
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed_operations == ["Host firewall | Firewall ruleset (table inet holdfast)"], run.changed_operations
    assert host.run(f"systemctl is-active {timer}").rc != 0


class CommentWatch:
    """Every change of the live table's comment, with when it was seen, read every half
    second over a connection opened before (the ruleset keeps established ones)."""

    def __init__(self, host):
        self.host, self.seen, self.stopped = host, [], threading.Event()
        self.thread = threading.Thread(target=self._watch)
        self.thread.start()

    def _watch(self):
        while not self.stopped.is_set():
            comment = live_comment(self.host)
            if not self.seen or self.seen[-1][1] != comment:
                self.seen.append((time.monotonic(), comment))
            time.sleep(0.5)

    def stop(self) -> list[tuple[float, str]]:
        self.stopped.set()
        self.thread.join()
        return self.seen


@pytest.mark.disruptive
def test_a_ruleset_that_cuts_the_deploys_ssh_is_rolled_back_by_the_host(pytestconfig, host, target, targets,
                                                                         tmp_path, foreign_table):
    inventory = pytestconfig.getoption("inventory")
    project = copy_project(tmp_path)
    append(project / "group_data/lab.py", f"firewall['ssh_from'] = [{LAB.client_addresses['office']!r}]")
    good, window = wanted_comment(target, targets), target.settings.firewall.rollback_after
    assert live_comment(host) == good

    watch = CommentWatch(host)
    try:
        run = run_deploy(inventory, "--limit", target.name, cwd=project)
        assert run.returncode != 0
        assert "restores the previous ruleset by itself" in run.output, run.output[-3000:]
        assert wait_for(lambda: new_ssh_gets_in(target), timeout=window + 30)
    finally:
        seen = watch.stop()
    comments = [comment for _, comment in seen]
    assert comments[0] == good and comments[-1] == good and len(comments) == 3, seen
    live_for = seen[2][0] - seen[1][0]
    print(f"the ruleset that cut the deploy's ssh was live for {live_for:.1f}s (rollback_after: {window}s)")
    assert window - 1 <= live_for <= window + 5
    assert host.file(firewall.RULESET).content_string.startswith("#!/usr/sbin/nft -f\n# Restored by holdfast-firewall")

    run = run_deploy(inventory, "--limit", target.name)
    assert run.returncode == 0, run.output[-3000:]
    assert live_comment(host) == good
    assert host.file(firewall.RULESET).content_string.startswith("#!/usr/sbin/nft -f\n# Managed by Holdfast")
    assert host.check_output(f"nft list table {FOREIGN_TABLE}") == foreign_table


@pytest.mark.disruptive
def test_the_table_is_loaded_again_at_boot(host, target, targets):
    started = "cut -d' ' -f22 /proc/1/stat"  # PID 1's start: a new one after a reboot
    before = host.check_output(started)
    host.run("systemctl reboot")
    assert wait_for(lambda: over_new_ssh(target, started) not in (None, f"{before}\n"), timeout=90)
    assert host.check_output(f"systemctl is-active {firewall.UNIT}.service") == "active"
    assert live_comment(host) == wanted_comment(target, targets)
