"""What the drill watches while it runs: samplers on the lab hosts (the app's CPU, its
health, the monitor's probes), round trips from this machine (ssh, Monit), and afterwards
the logs and mailboxes that say when Monit acted and when its alert arrived.

Every sampler prints one line per sample, ``<epoch seconds> <values...>``; the hosts share
this machine's clock, so their times and ours compare directly.
"""

import email.utils
import json
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from holdfast.monitoring import PROMETHEUS_ADDRESS
from lab.acme import curl_arguments
from lab.harness.failover import served_by
from lab.harness.probes import cpu_ticks_function
from lab.mailsink import messages
from lab.topology import Lab, LabHost

SSH_CONNECT_TIMEOUT = 5  # seconds


@dataclass(frozen=True)
class Remote:
    """A lab host as this machine reaches it over SSH."""

    lab: Lab
    host: LabHost

    def command(self, script: str) -> list[str]:
        return self.lab.ssh_command(self.host, script, SSH_CONNECT_TIMEOUT)

    def run(self, script: str, timeout: float = 30, check: bool = False) -> str:
        """The script's output; with ``check``, RemoteFailed if it exits with another status than 0."""
        done = subprocess.run(self.command(script), capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RemoteFailed(f"{self.host.name}: `{script}` exited with {done.returncode}: {done.stderr.strip()}")
        return done.stdout


class RemoteFailed(RuntimeError):
    """A command the drill needs failed on a lab host."""


@dataclass
class Sampler:
    """A script on a host that prints samples until stopped; its lines, parsed."""

    remote: Remote
    script: str
    samples: list[tuple[float, list[str]]] = field(default_factory=list)

    def start(self) -> "Sampler":
        self.process = subprocess.Popen(self.remote.command(self.script), stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            when, *values = line.split()
            self.samples.append((float(when), values))

    def stop(self) -> list[tuple[float, list[str]]]:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.reader.join(timeout=5)
        return self.samples


def app_sampler(remote: Remote, unit: str, site, tls: bool, every: float = 0.5) -> Sampler:
    """CPU ticks of ``unit``'s processes, its main PID, and whether ``site``'s health page
    answers (through nginx, from the host itself, never from a cache; over HTTPS when
    ``tls``), every ``every`` s."""
    return Sampler(remote, cpu_ticks_function(unit) + (
        "while :; do "
        "ticks=$(cpu_ticks); "
        f"pid=$(systemctl show -p MainPID --value {unit}); "
        f"health=$(curl -s -m 1 -H 'Cookie: drill=1' "
        f"{curl_arguments(site.server_names[0], '127.0.0.1', site.health_path, tls)} "
        f"| grep -cF '{site.health_expect}' || true); "
        f'echo "$(date +%s.%N) $ticks $pid $health"; sleep {every}; done'
    ))


HEARTBEAT_DATABASE = "holdfast_drill"


def heartbeat_writer(primary: Remote, every: float = 0.1) -> Sampler:
    """A row holding the time, written on ``primary``'s database every ``every`` seconds by
    one client (the standby's replica of it says how far behind it is); prints nothing."""
    table = f"{HEARTBEAT_DATABASE}.beat"
    return Sampler(primary, (
        f'{{ echo "CREATE DATABASE IF NOT EXISTS {HEARTBEAT_DATABASE}; CREATE TABLE IF NOT EXISTS {table} '
        f'(id INT PRIMARY KEY, at TIMESTAMP(6));"; '
        f'while :; do echo "REPLACE INTO {table} VALUES (1, NOW(6));"; sleep {every}; done; }} | mariadb --force'
    ))


def replica_lag_sampler(standby: Remote, every: float = 0.5) -> Sampler:
    """How old the heartbeat row is on ``standby``'s replica (microseconds), every ``every``
    seconds, by one client: the replica's lag, and up to the writer's interval. It goes on
    (``--force``) while the row is not there yet."""
    return Sampler(standby, (
        f'while :; do echo "SELECT UNIX_TIMESTAMP(NOW(6)), TIMESTAMPDIFF(MICROSECOND, at, NOW(6)) '
        f'FROM {HEARTBEAT_DATABASE}.beat;"; sleep {every}; done | mariadb -N --unbuffered --force 2>/dev/null'
    ))


def probe_sampler(monitor: Remote, address: str, host_name: str, path: str, tls: bool, every: float = 1) -> Sampler:
    """The monitor host's view: a GET of ``path`` every ``every`` seconds, status and time."""
    return Sampler(monitor, (
        "while :; do "
        f"r=$(curl -s -o /dev/null -m 5 -w '%{{http_code}} %{{time_total}}' "
        f"{curl_arguments(host_name, address, path, tls)}); "
        f'echo "$(date +%s.%N) $r"; sleep {every}; done'
    ))


class Poller:
    """``sample()`` every ``every`` seconds, in a thread: (epoch it began, what it returned)."""

    def __init__(self, sample: Callable[[], object], every: float):
        self.sample, self.every = sample, every
        self.samples: list[tuple[float, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Poller":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.time()
            self.samples.append((began, self.sample()))
            self._stop.wait(self.every)

    def stop(self) -> list[tuple[float, object]]:
        self._stop.set()
        self._thread.join(timeout=70)
        return self.samples


def round_trips(command: list[str], every: float) -> Poller:
    """Seconds ``command`` takes, run from this machine every ``every`` seconds."""
    def took() -> float:
        clock = time.monotonic()
        subprocess.run(command, capture_output=True, timeout=60)
        return time.monotonic() - clock

    return Poller(took, every)


def holders(address: str, server_name: str, tls: bool, every: float = 0.25) -> Poller:
    """Who answers the site at ``address`` (None: nobody), asked every ``every`` seconds."""
    return Poller(lambda: served_by(address, server_name, timeout=1, tls=tls), every)


def prometheus_range(monitor: Remote, query: str, start: float, end: float) -> list[tuple[float, float]]:
    """(epoch, value) of every series ``query`` matches on the monitor host's Prometheus
    (holdfast/monitoring.py: on its loopback), a sample a second from ``start`` to ``end``."""
    answer = monitor.run(
        f"curl -s -G http://{PROMETHEUS_ADDRESS}/api/v1/query_range --data-urlencode {shlex.quote('query=' + query)} "
        f"--data-urlencode start={start:.3f} --data-urlencode end={end:.3f} --data-urlencode step=1")
    series = json.loads(answer)["data"]["result"] if answer.strip() else []
    return sorted((float(when), float(value)) for one in series for when, value in one["values"])


_MONIT_LINE = re.compile(r"^\[(?P<when>[^\]]+)\] \w+\s*: '(?P<check>[^']+)' (?P<what>.*)$")


def monit_events(log: str, check: str, since: float) -> list[tuple[float, str]]:
    """(epoch, message) of Monit's log lines about ``check`` at or after ``since``."""
    events = []
    for line in log.splitlines():
        match = _MONIT_LINE.match(line)
        if match and match["check"] == check:
            when = datetime.fromisoformat(match["when"]).timestamp()
            if when >= since - 1:  # the log's clock has whole seconds
                events.append((when, match["what"]))
    return events


def delivered(mailbox_text: str, subject_contains: str) -> list[float]:
    """Epochs at which the mail sink received messages whose subject contains the text
    (from the first Received: header, which the sink writes as it takes the message)."""
    arrivals = []
    for parsed in messages(mailbox_text):
        if subject_contains in (parsed["Subject"] or "") and parsed["Received"]:
            stamp = parsed["Received"].rsplit(";", 1)[-1].strip()
            arrivals.append(email.utils.parsedate_to_datetime(stamp).timestamp())
    return arrivals
