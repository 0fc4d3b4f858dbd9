"""Supervisor of one lab host, started detached by ``lab up``.

It moves itself into the host's private cgroups (so the host's systemd gets its own,
enforceable controller hierarchies) and runs systemd-nspawn there, starting it again
when the host reboots (nspawn exit status 133) unless ``lab down`` asked it to stop.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REBOOT_EXIT_STATUS = 133


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    for cgroup in spec["cgroups"]:
        Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
    while True:
        nspawn = subprocess.Popen(spec["command"], stdin=subprocess.DEVNULL)
        Path(spec["nspawn_pid_file"]).write_text(str(nspawn.pid))
        status = nspawn.wait()
        print(f"lab launcher: systemd-nspawn exited with {status}", flush=True)
        if status != REBOOT_EXIT_STATUS or Path(spec["stop_file"]).exists():
            return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
