"""`lab down` leaves nothing of the lab on this machine; `lab up` after it brings the
same hosts back. Runs on the machine itself (root), before the host tests."""

import subprocess
import sys
from pathlib import Path

import pytest

from lab.topology import CGROUP_ROOT, LAB
from tests.conftest import REPO


def lab(action: str) -> None:
    subprocess.run([sys.executable, "-m", "lab", action], cwd=REPO, check=True)


def ssh(address: str, command: str) -> str:
    return subprocess.run(
        ["ssh", "-i", str(LAB.ssh_key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{address}", command],
        capture_output=True, text=True, check=True,
    ).stdout.strip()


def traces() -> dict[str, list[str]]:
    """What of this lab is on the machine, looked up independently of the lab's code."""
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    mounts = Path("/proc/mounts").read_text().splitlines()
    bridge = subprocess.run(["ip", "link", "show", LAB.bridge], capture_output=True).returncode == 0
    return {
        "nspawn processes": [p for p in processes if "systemd-nspawn" in p and f"hf-{LAB.name}-" in p],
        "overlay mounts": [m for m in mounts if str(LAB.state_dir) in m],
        "cgroup directories": [str(p) for p in CGROUP_ROOT.glob(f"**/holdfast-lab/{LAB.name}")],
        "bridge": [LAB.bridge] if bridge else [],
    }


@pytest.fixture(scope="module")
def cycled():
    lab("up")
    lab("down")
    left = traces()
    lab("up")
    return left


def test_down_leaves_no_trace(cycled):
    assert cycled == {"nspawn processes": [], "overlay mounts": [], "cgroup directories": [], "bridge": []}


@pytest.mark.parametrize("lab_host", LAB.hosts, ids=lambda h: h.name)
def test_up_after_down_brings_the_same_host_back(cycled, lab_host):
    assert ssh(lab_host.address, "hostname") == lab_host.name
    assert f"inet {lab_host.address}/" in ssh(lab_host.address, "ip -4 -o addr show host0")
    assert ssh(lab_host.address, "systemctl is-system-running --wait") == "running"


def test_up_again_keeps_running_hosts(cycled):
    identity = "cat /etc/machine-id; cut -d' ' -f22 /proc/1/stat"  # a new host: new id; a reboot: new start
    booted = {h.name: ssh(h.address, identity) for h in LAB.hosts}
    lab("up")
    assert {h.name: ssh(h.address, identity) for h in LAB.hosts} == booted
