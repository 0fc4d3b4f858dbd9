"""Measurements the host tests take on a host, each in one command run there, and the
lab's mailboxes."""

import time

from lab.mailsink import mailbox, messages


def cpu_ticks_function(unit: str) -> str:
    """Shell defining ``cpu_ticks``, which prints the CPU time the processes of ``unit``
    have used so far (utime + stime, in clock ticks: 1/``getconf CLK_TCK`` s); for a
    slice, the processes of every unit in it."""
    return (
        f"cg=$(systemctl show -p ControlGroup --value {unit}); "
        "cpu_ticks() { find /sys/fs/cgroup/systemd$cg -name cgroup.procs -exec cat {} + 2>/dev/null | while read p; do "
        "awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }; "
    )


def cpu_percent(host, unit: str, seconds: float = 4) -> float:
    """CPU used by the processes of ``unit`` over ``seconds``, in percent of one CPU; for a
    slice, by the processes of every unit in it.

    Read from the kernel's per-process accounting (utime + stime), so it needs no
    accounting setting on the unit: the lab's systemd keeps no cpuacct groups, as the
    machine mounts cpu and cpuacct apart and systemd expects them together.
    """
    ticks = cpu_ticks_function(unit) + (
        f"a=$(cpu_ticks); sleep {seconds}; b=$(cpu_ticks); echo $((b - a)) $(getconf CLK_TCK)"
    )
    used, per_second = map(int, host.check_output(ticks).split())
    return used / per_second / seconds * 100


def oom_kills(host, unit: str) -> int:
    """Processes the kernel's OOM killer has killed in ``unit``'s cgroup and the ones below it.

    Summed over the local counters of each cgroup (cgroup v1 counts a kill in the victim's
    own cgroup, not in the slice whose limit was hit).
    """
    return int(host.check_output(
        f"cg=$(systemctl show -p ControlGroup --value -- {unit}); "
        "{ find /sys/fs/cgroup/memory$cg -name memory.oom_control; find /sys/fs/cgroup$cg -name memory.events.local; } "
        "2>/dev/null | xargs -r cat | awk '$1 == \"oom_kill\" {s += $2} END {print s + 0}'"
    ))


def fastcgi_command(site, path: str, timeout: int) -> str:
    """A shell command asking PHP-FPM directly (no nginx) for ``path`` of ``site``, as
    nginx would for its canonical name, giving up after ``timeout`` seconds."""
    socket = site.backend.address.removeprefix("unix:")
    query = path.partition("?")[2]
    return (
        f"SCRIPT_FILENAME={site.root}/index.php REQUEST_URI='{path}' QUERY_STRING='{query}' REQUEST_METHOD=GET "
        f"HTTP_HOST={site.server_names[0]} timeout {timeout} cgi-fcgi -bind -connect {socket}"
    )


def fastcgi(host, site, path: str, timeout: int = 5) -> str:
    """Ask PHP-FPM directly (no nginx) for ``path`` of ``site``; empty if no answer in time."""
    return host.run(fastcgi_command(site, path, timeout)).stdout


def wait_for(condition, timeout: float, interval: float = 0.5):
    """Poll ``condition`` until it returns something true (returned) or ``timeout`` seconds
    pass (None)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


class Mailboxes:
    """Mailboxes of some addresses on the lab's mail sink (lab/mailsink.py); reads only the
    mail that arrives after this was made."""

    def __init__(self, sink_host, addresses: list[str]):
        self.host = sink_host
        self.paths = {address: mailbox(address) for address in addresses}
        self.offsets = {address: self._size(path) for address, path in self.paths.items()}

    def _size(self, path: str) -> int:
        return int(self.host.check_output(f"stat -c %s {path} 2>/dev/null || echo 0"))

    def subjects(self, address: str) -> list[str]:
        """Subjects of the mail ``address`` received since this was made."""
        text = self.host.check_output(f"tail -c +{self.offsets[address] + 1} {self.paths[address]} 2>/dev/null || true")
        return [message["Subject"] for message in messages(text)]

    def waiting_for(self, subject: str) -> list[str]:
        """The addresses that have not received mail with ``subject`` yet. Refuses an empty
        list of addresses: a wait on none would pass at once, whatever was mailed."""
        if not self.paths:
            raise ValueError(f"no mailbox to wait for {subject!r} in: the tier has no email address")
        return [address for address in self.paths if subject not in self.subjects(address)]
