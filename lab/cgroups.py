"""Each lab host's own cgroups: a directory ``holdfast-lab/<lab>/<host>`` in every
controller hierarchy the host gets to itself, and in the memory hierarchy below this
process's own cgroup. Made before a host starts; emptied and removed when it is gone."""

import os
import signal
import time
from pathlib import Path

from lab import LabError
from lab.topology import CGROUP_ROOT, Lab, LabHost

# Controllers whose hierarchy each host gets to itself (see lab/files/lab-init).
PRIVATE_CONTROLLERS = ("cpu", "cpuacct", "pids", "systemd", "unified")


def _memory_cgroup_of_this_process() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "memory":
            return path.rstrip("/")
    return ""


def host_cgroups(lab: Lab, lab_host: LabHost) -> list[Path]:
    """Where a host being started gets its own cgroups (memory: under ours)."""
    parents = [CGROUP_ROOT / c for c in PRIVATE_CONTROLLERS if (CGROUP_ROOT / c).is_dir()]
    parents.append(CGROUP_ROOT / "memory" / _memory_cgroup_of_this_process().lstrip("/"))
    return [parent / "holdfast-lab" / lab.name / lab_host.name for parent in parents]


def lab_cgroups(lab: Lab) -> list[Path]:
    """The lab's cgroup directories that exist, wherever a launcher made them."""
    pattern = f"holdfast-lab/{lab.name}"
    found = list(CGROUP_ROOT.glob(f"*/{pattern}"))
    found += [p for p in (CGROUP_ROOT / "memory").glob(f"**/{pattern}") if p not in found]
    return found


def kill_tree(cgroup: Path, timeout: float = 10) -> None:
    """SIGKILL every process in ``cgroup`` and below, until none is left."""
    deadline = time.monotonic() + timeout
    while cgroup.is_dir():
        pids = {int(pid) for procs in cgroup.rglob("cgroup.procs") for pid in procs.read_text().split()}
        if not pids:
            return
        if time.monotonic() > deadline:
            raise LabError(f"processes {sorted(pids)} in {cgroup} survive SIGKILL")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def remove_tree(cgroup: Path) -> None:
    """rmdir a cgroup and its children, deepest first (cgroup files cannot be unlinked)."""
    if not cgroup.is_dir():
        return
    for path, _, _ in sorted(os.walk(cgroup), key=lambda entry: -entry[0].count("/")):
        remove_if_empty(Path(path))


def remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass
