"""Lab hosts: one overlay of the base image each, on a disk of its own (its writes fill that,
and can fill it up), booted by systemd-nspawn on the lab's bridge.

A host is running when its launcher process is alive. Anything else found in the state
directory (a launcher killed with the session, an overlay left mounted, a run cut short)
is stale: ``up`` clears it and creates the host afresh; ``down`` clears everything.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab import LabError, cgroups, hostroot, log, prerequisites, run
from lab.image import mount_disk, mount_overlay
from lab.topology import CACHE_DIR, CACHE_MOUNT, Lab, LabHost

SSH_CONNECT_TIMEOUT = 2  # seconds; a booting host is polled
STOP_TIMEOUT = 20
# Each host's own disk, sparse (it takes this machine's disk only as the host writes): about
# four times what a web host holds after the lab's deploy and Holdfast's (700 MB).
DISK_SIZE = "3G"


def check_machine() -> None:
    """Fail early, with every reason and its fix, on a machine the lab cannot run on."""
    found = prerequisites.problems(prerequisites.this_machine())
    if found:
        raise LabError("the lab cannot run on this machine:\n" + "\n".join(f"  - {p}" for p in found))


# Each host's systemd and journald hold inotify instances; the kernel default (128 per
# user, and every host's root is the same user) runs out with a few labs up at once.
INOTIFY_INSTANCES = 1024


def raise_kernel_limits() -> None:
    """Raise this machine's inotify instance limit to what several labs need (runtime only)."""
    limit = Path("/proc/sys/fs/inotify/max_user_instances")
    if int(limit.read_text()) < INOTIFY_INSTANCES:
        log(f"raising fs.inotify.max_user_instances to {INOTIFY_INSTANCES}")
        limit.write_text(str(INOTIFY_INSTANCES))


def _pid_alive(pid_file: Path, expected: str) -> bool:
    """Whether the process in ``pid_file`` runs and its command line contains ``expected``."""
    try:
        pid = int(pid_file.read_text())
        return expected in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except (OSError, ValueError):
        return False


class Machines:
    """Starts, inspects and removes the hosts of one lab."""

    def __init__(self, lab: Lab):
        self.lab = lab

    # -- state ------------------------------------------------------------------------
    def is_running(self, lab_host: LabHost) -> bool:
        return _pid_alive(self.lab.host_dir(lab_host) / "launcher.pid", "lab/launcher.py")

    def ssh(self, lab_host: LabHost, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.lab.ssh_command(lab_host, command, SSH_CONNECT_TIMEOUT),
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
        )

    def ssh_ready(self, lab_host: LabHost) -> bool:
        return self.ssh(lab_host, "true").returncode == 0

    def _bridge_exists(self) -> bool:
        return run("ip", "link", "show", self.lab.bridge, quiet=True, check=False) == 0

    # -- bring up ---------------------------------------------------------------------
    def ensure_bridge(self) -> None:
        bridge = self.lab.bridge
        if not self._bridge_exists():
            run("ip", "link", "add", bridge, "type", "bridge")
        prefix = self.lab.subnet.prefixlen
        existing = run("ip", "-o", "addr", "show", "dev", bridge, capture=True)
        for address in (self.lab.bridge_address, *self.lab.client_addresses.values()):
            if f" {address}/{prefix} " not in existing:
                run("ip", "addr", "add", f"{address}/{prefix}", "dev", bridge)
        run("ip", "link", "set", bridge, "up")

    def ensure_ssh_key(self) -> None:
        if not self.lab.ssh_key.exists():
            self.lab.state_dir.mkdir(parents=True, exist_ok=True)
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"holdfast-lab-{self.lab.name}",
                "-f", self.lab.ssh_key)

    def use_repository(self, repo: Path) -> None:
        """Point this lab's hosts at ``repo`` (they see it at their next apt-get update)."""
        link = CACHE_DIR / self.lab.repository_link
        staged = link.with_name(link.name + ".new")
        staged.unlink(missing_ok=True)
        staged.symlink_to(repo.relative_to(CACHE_DIR) / "debs")
        staged.rename(link)

    def start(self, lab_host: LabHost, base: Path) -> None:
        """Start ``lab_host`` unless it runs already; a stale one is recreated."""
        if self.is_running(lab_host):
            log(f"{lab_host.name} is already running")
            return
        self.remove(lab_host)
        host_dir = self.lab.host_dir(lab_host)
        root = mount_overlay(base, mount_disk(host_dir, DISK_SIZE))
        hostroot.customise(self.lab, lab_host, root)
        host_cgroups = cgroups.host_cgroups(self.lab, lab_host)
        for cgroup in host_cgroups:
            cgroup.mkdir(parents=True, exist_ok=True)
        spec = {
            "cgroups": [str(cgroup) for cgroup in host_cgroups],
            "nspawn_pid_file": str(host_dir / "nspawn.pid"),
            "stop_file": str(host_dir / "stop"),
            "command": self._nspawn_command(lab_host, root),
        }
        (host_dir / "launcher.json").write_text(json.dumps(spec, indent=1))
        with open(host_dir / "console.log", "ab") as console:
            launcher = subprocess.Popen(
                [sys.executable, str(Path(__file__).parent / "launcher.py"), str(host_dir / "launcher.json")],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (host_dir / "launcher.pid").write_text(str(launcher.pid))

    def _nspawn_command(self, lab_host: LabHost, root: Path) -> list[str]:
        """systemd-nspawn booting ``root`` as ``lab_host`` on the lab's bridge."""
        return [
            "systemd-nspawn",
            f"--directory={root}",
            f"--machine={self.lab.machine_name(lab_host)}",
            f"--hostname={lab_host.name}",
            "--register=no",
            "--keep-unit",
            f"--network-bridge={self.lab.bridge}",
            "--resolv-conf=off",
            "--timezone=off",
            "--kill-signal=SIGRTMIN+3",
            f"--bind-ro={CACHE_DIR}:{CACHE_MOUNT}",
            "/usr/local/sbin/lab-init",
        ]

    def wait_until_ready(self, lab_host: LabHost, timeout: float = 60) -> None:
        """Wait for SSH, then read the offline repository's index (as a fresh server would)."""
        deadline = time.monotonic() + timeout
        while not self.ssh_ready(lab_host):
            if not self.is_running(lab_host):
                raise LabError(f"{lab_host.name} stopped while booting; see {self.lab.host_dir(lab_host)}/console.log")
            if time.monotonic() > deadline:
                raise LabError(f"{lab_host.name} ({lab_host.address}) not reachable by SSH after {timeout:.0f}s")
            time.sleep(0.3)
        update = self.ssh(lab_host, "apt-get update -qq")
        if update.returncode != 0:
            raise LabError(f"{lab_host.name}: apt-get update failed:\n{update.stdout}{update.stderr}")

    # -- take down --------------------------------------------------------------------
    def stop(self, lab_host: LabHost) -> None:
        """Power ``lab_host`` off in order (nspawn forwards SIGTERM as SIGRTMIN+3)."""
        host_dir = self.lab.host_dir(lab_host)
        if not self.is_running(lab_host):
            return
        (host_dir / "stop").touch()
        if _pid_alive(host_dir / "nspawn.pid", "systemd-nspawn"):
            os.kill(int((host_dir / "nspawn.pid").read_text()), signal.SIGTERM)
        launcher_pid = int((host_dir / "launcher.pid").read_text())
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.is_running(lab_host) and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.is_running(lab_host):
            log(f"{lab_host.name} did not power off in {STOP_TIMEOUT}s: killing it")
            os.killpg(launcher_pid, signal.SIGKILL)
            time.sleep(0.5)

    def remove(self, lab_host: LabHost) -> None:
        """Remove whatever a stopped or killed ``lab_host`` left: mount, files, cgroups."""
        host_dir = self.lab.host_dir(lab_host)
        spec_file = host_dir / "launcher.json"
        host_cgroups = [Path(c) for c in json.loads(spec_file.read_text())["cgroups"]] if spec_file.exists() else []
        # A killed nspawn leaves the host's own processes running: they are in its cgroups.
        for cgroup in host_cgroups:
            cgroups.kill_tree(cgroup)
        for mount in (host_dir / "disk", host_dir / "root"):  # root: a lab made before hosts had a disk
            if mount.is_dir() and os.path.ismount(mount):
                run("umount", "--recursive", mount)
        shutil.rmtree(host_dir, ignore_errors=True)
        if host_dir.exists():
            raise LabError(f"could not remove {host_dir}")
        for cgroup in host_cgroups:
            cgroups.remove_tree(cgroup)
        shutil.rmtree(Path("/run/systemd/nspawn/propagate") / self.lab.machine_name(lab_host),
                      ignore_errors=True)

    def remove_all(self) -> None:
        """Stop every host of this lab, then remove all it left on the machine."""
        known = {h.name: h for h in self.lab.hosts}
        if self.lab.hosts_dir.is_dir():
            # Hosts of an earlier, larger lab (HOLDFAST_LAB_WEB_HOSTS) are removed too.
            for name in os.listdir(self.lab.hosts_dir):
                known.setdefault(name, LabHost(name, "", ""))
        for lab_host in known.values():
            self.stop(lab_host)
        for lab_host in known.values():
            self.remove(lab_host)
        for cgroup in cgroups.lab_cgroups(self.lab):
            cgroups.remove_tree(cgroup)
            cgroups.remove_if_empty(cgroup.parent)
        if self._bridge_exists():
            run("ip", "link", "del", self.lab.bridge)

    def leftovers(self) -> list[str]:
        """Everything of this lab still on the machine (empty once ``down`` is done)."""
        found = [str(cgroup) for cgroup in cgroups.lab_cgroups(self.lab)]
        if self.lab.hosts_dir.is_dir() and any(self.lab.hosts_dir.iterdir()):
            found.append(str(self.lab.hosts_dir))
        mounts = Path("/proc/mounts").read_text()
        found += [line.split()[1] for line in mounts.splitlines() if str(self.lab.state_dir) in line]
        if self._bridge_exists():
            found.append(f"bridge {self.lab.bridge}")
        processes = run("ps", "-eo", "args", capture=True)
        found += [line for line in processes.splitlines()
                  if f"--machine=hf-{self.lab.name}-" in line or f"{self.lab.state_dir}/" in line]
        return found

