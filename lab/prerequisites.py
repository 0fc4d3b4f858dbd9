"""What a machine needs to run the lab, all checked before anything is built or installed.

Standard library only, so the machine's own ``python3 lab/prerequisites.py`` runs it as
the first step of ``make lab`` and ``make demo``, before the virtualenv exists; ``python -m
lab up`` checks the same again. The decision (``problems``) reads a ``Machine`` made of
plain values, so it is tested on constructed machines."""

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

# Commands the lab runs on this machine, and the Debian package of each (curl: the host
# tests ask the sites over HTTPS with it, trusting only the lab's ACME CA).
MACHINE_COMMANDS = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "apt-ftparchive": "apt-utils",
    "ssh": "openssh-client",
    "ip": "iproute2",
    "curl": "curl",
    "mkfs.ext4": "e2fsprogs",  # each host's own disk (lab/image.py)
}
# The cgroup v1 controllers each host gets writable hierarchies of (lab/cgroups.py), so
# that CPUQuota=, MemoryMax= and TasksMax= are enforced inside it.
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")
CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Machine:
    """What the decision needs to know about a machine."""

    uid: int
    mountinfo: str  # the text of /proc/self/mountinfo
    missing_commands: tuple[str, ...]
    has_apt: bool


def this_machine() -> Machine:
    return Machine(
        uid=os.geteuid(),
        mountinfo=Path("/proc/self/mountinfo").read_text(),
        missing_commands=tuple(c for c in MACHINE_COMMANDS if not shutil.which(c)),
        has_apt=shutil.which("apt-get") is not None,
    )


def _cgroup_mounts(mountinfo: str) -> tuple[set[str], bool]:
    """The v1 controllers mounted under /sys/fs/cgroup, and whether the v2 (unified)
    hierarchy is mounted at /sys/fs/cgroup itself (a v2-only machine)."""
    controllers: set[str] = set()
    unified_at_root = False
    for line in mountinfo.splitlines():
        fields, _, tail = line.partition(" - ")
        mount_point = fields.split()[4] if len(fields.split()) > 4 else ""
        fstype, _, super_options = (tail.split() + ["", "", ""])[:3]
        if fstype == "cgroup2" and mount_point == CGROUP_ROOT:
            unified_at_root = True
        if fstype == "cgroup" and mount_point.startswith(CGROUP_ROOT + "/"):
            controllers.update(super_options.split(","))
    return controllers, unified_at_root


def problems(machine: Machine) -> list[str]:
    """Each reason the lab cannot run on ``machine``, with how to fix it (empty: it can)."""
    found: list[str] = []
    if machine.uid != 0:
        found.append(
            f"not root (uid {machine.uid}): the lab mounts overlays, creates a bridge and cgroups "
            "and runs systemd-nspawn; run it as root (e.g. `sudo make demo`)"
        )
    controllers, unified_at_root = _cgroup_mounts(machine.mountinfo)
    missing = [c for c in V1_CONTROLLERS if c not in controllers]
    if missing and unified_at_root:
        found.append(
            f"cgroup v2 only (the unified hierarchy is mounted at {CGROUP_ROOT}): the lab needs the "
            f"cgroup v1 controllers {', '.join(V1_CONTROLLERS)} (a hybrid layout, as on the CI machines; "
            "Debian 12 boots v2-only by default). Boot with `systemd.unified_cgroup_hierarchy=0` on the "
            "kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, `update-grub`, reboot) or use "
            "such a machine"
        )
    elif missing:
        found.append(
            f"cgroup v1 controllers missing under {CGROUP_ROOT}: {', '.join(missing)}: the lab gives each "
            "host its own hierarchy of each (a hybrid layout, as on the CI machines); mount them "
            f"(`mkdir {CGROUP_ROOT}/memory && mount -t cgroup -o memory cgroup {CGROUP_ROOT}/memory`) "
            "or use a machine that has them"
        )
    if machine.missing_commands and not machine.has_apt:
        packages = sorted({MACHINE_COMMANDS[c] for c in machine.missing_commands})
        found.append(
            f"missing commands {', '.join(machine.missing_commands)} and no apt-get to install them: the lab "
            f"installs the Debian packages {', '.join(packages)} itself on Debian or Ubuntu; elsewhere, "
            "install them with the machine's package manager"
        )
    return found


def main() -> int:
    found = problems(this_machine())
    if found:
        print("The lab cannot run on this machine (nothing was changed):", file=sys.stderr)
        for problem in found:
            print(f"  - {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
