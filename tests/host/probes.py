"""Measurements the host tests take on a host, each in one command run there."""


def cpu_percent(host, unit: str, seconds: float = 4) -> float:
    """CPU used by the processes of ``unit`` over ``seconds``, in percent of one CPU.

    Read from the kernel's per-process accounting (utime + stime), so it needs no
    accounting setting on the unit.
    """
    ticks = (
        f"cg=$(systemctl show -p ControlGroup --value {unit}); "
        "t() { cat /sys/fs/cgroup/systemd$cg/cgroup.procs | while read p; do "
        "awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }; "
        f"a=$(t); sleep {seconds}; b=$(t); echo $((b - a)) $(getconf CLK_TCK)"
    )
    used, per_second = map(int, host.check_output(ticks).split())
    return used / per_second / seconds * 100


def fastcgi(host, site, path: str, timeout: int = 5) -> str:
    """Ask PHP-FPM directly (no nginx) for ``path`` of ``site``; empty if no answer in time."""
    socket = site.backend.address.removeprefix("unix:")
    return host.run(
        f"SCRIPT_FILENAME={site.root}/index.php REQUEST_URI='{path}' REQUEST_METHOD=GET "
        f"timeout {timeout} cgi-fcgi -bind -connect {socket}"
    ).stdout
