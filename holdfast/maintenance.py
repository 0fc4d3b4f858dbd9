"""Maintenance windows: "I am working on web1 for 30 minutes, don't page anyone".

``start`` makes Monit stop acting on the named services of a host (``monit unmonitor``; all
of them when none is named), puts Alertmanager silences on the host's alerts (matcher
``host=<name>``, the label every rule carries, and ``primary=<name>``: a service address it
is the primary of, which failover moves away meanwhile) through the monitor host's loopback API, and
leaves a transient systemd timer on the host that monitors them again when the window
ends; the silence ends at the same moment (its ``endsAt``). So a window nobody ends still
ends. ``end`` does the same at once. The window is recorded in ``WINDOW_FILE`` on the
host, which ``holdfast status`` shows. The hosted monitors are not paused: they could not
resume by themselves (see the README).
"""

import json
import shlex
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter, ValidationError

from holdfast.forms import Duration
from holdfast.inventory import MONITOR_GROUP, read_inventory, ssh_command
from holdfast.monitoring import ALERTMANAGER_ADDRESS

TIMER_UNIT = "holdfast-maintenance-end"
WINDOW_FILE = "/run/holdfast/maintenance"
END_SCRIPT = "/run/holdfast/maintenance-end"  # what the timer runs, and `end` runs at once
CREATED_BY = "holdfast maintenance"
SILENCES_API = f"http://{ALERTMANAGER_ADDRESS}/api/v2/silences"
SILENCED_LABELS = ("host", "primary")  # of the alerts a window on a host silences


@dataclass(frozen=True)
class Window:
    host: str
    seconds: int
    reason: str
    services: tuple[str, ...] = ()  # empty: every Monit check of the host

    @property
    def targets(self) -> list[str]:
        return list(self.services) or ["all"]

    def silences(self, now: datetime) -> list[dict]:
        """The Alertmanager silences of the window (API v2): the host's alerts, and those of
        a service address whose primary it is (failover moves it away meanwhile)."""
        return [{
            "matchers": [{"name": label, "value": self.host, "isRegex": False, "isEqual": True}],
            "startsAt": now.astimezone(UTC).isoformat(timespec="seconds"),
            "endsAt": (now + timedelta(seconds=self.seconds)).astimezone(UTC).isoformat(timespec="seconds"),
            "createdBy": CREATED_BY,
            "comment": self.reason,
        } for label in SILENCED_LABELS]


def window(host: str, duration: str, reason: str, services: str = "") -> Window:
    """The window asked for on the command line; ValueError naming what is wrong."""
    try:
        seconds = TypeAdapter(Duration).validate_python(duration)
    except ValidationError:
        seconds = 0
    if seconds <= 0:
        raise ValueError(f"FOR={duration!r}: expected a duration such as 40s, 30m or 2h")
    if not reason.strip():
        raise ValueError("REASON is empty: say why (it is the silence's comment and shown by status)")
    return Window(host, seconds, reason.strip(), tuple(s for s in services.replace(",", " ").split() if s))


def _monitor_again(targets: list[str]) -> str:
    return "".join(f"monit monitor {shlex.quote(t)}\n" for t in targets) + f"rm -f {WINDOW_FILE} {END_SCRIPT}\n"


def start_script(window: Window, now: datetime) -> str:
    """On the host: end an open window (a new one replaces it), stop Monit acting, schedule
    the end, record the window (one command)."""
    until = (now + timedelta(seconds=window.seconds)).astimezone(UTC).isoformat(timespec="seconds")
    record = json.dumps({"until": until, "reason": window.reason, "services": window.targets})
    return " && ".join([
        f"systemctl stop {TIMER_UNIT}.timer 2>/dev/null; systemctl reset-failed {TIMER_UNIT}.service 2>/dev/null; "
        f"if [ -f {END_SCRIPT} ]; then /bin/sh {END_SCRIPT}; fi; true",
        f"mkdir -p {WINDOW_FILE.rsplit('/', 1)[0]}",
        f"printf '%s' {shlex.quote(_monitor_again(window.targets))} > {END_SCRIPT}",
        *(f"monit unmonitor {shlex.quote(target)}" for target in window.targets),
        f"systemd-run --quiet --unit={TIMER_UNIT} --on-active={window.seconds}s --timer-property=AccuracySec=1s "
        f"/bin/sh {END_SCRIPT}",
        f"printf '%s\\n' {shlex.quote(record)} > {WINDOW_FILE}",
    ])


def end_script() -> str:
    """On the host: cancel the timer and run what it would have (monitor again, forget the
    window); with no window recorded, monitor everything."""
    return (f"systemctl stop {TIMER_UNIT}.timer 2>/dev/null; "
            f"if [ -f {END_SCRIPT} ]; then /bin/sh {END_SCRIPT}; else monit monitor all; rm -f {WINDOW_FILE}; fi")


def silence_script(silence: dict) -> str:
    """On the monitor host: post one of the window's silences."""
    body = shlex.quote(json.dumps(silence))
    return f"curl -fsS --max-time 5 -H 'Content-Type: application/json' -d {body} {SILENCES_API}"


def window_silences(silences: list[dict], host: str) -> list[str]:
    """Ids of the silences (Alertmanager's /api/v2/silences) a window made for ``host`` that
    have not expired."""
    return [
        silence["id"] for silence in silences
        if silence.get("status", {}).get("state") != "expired" and silence.get("createdBy") == CREATED_BY
        and any(m["name"] in SILENCED_LABELS and m["value"] == host for m in silence.get("matchers", []))
    ]


class MaintenanceError(RuntimeError):
    """A step of a window failed on a host; the message says which and the host's answer."""


def _run(pyinfra_host, script: str) -> str:
    result = subprocess.run(ssh_command(pyinfra_host, script), capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    if result.returncode != 0:
        raise MaintenanceError(f"{pyinfra_host.name}: {script.split()[0]}... exited {result.returncode}: "
                               f"{(result.stderr or result.stdout).strip()}")
    return result.stdout


def _hosts(inventory_path: str, name: str):
    """The inventory host ``name`` and the monitor hosts (whose Alertmanager silences it)."""
    pyinfra_inventory = read_inventory(inventory_path)
    target = pyinfra_inventory.get_host(name, None)
    if target is None:
        known = ", ".join(h.name for h in pyinfra_inventory)
        raise MaintenanceError(f"HOST={name!r}: not in {inventory_path} (its hosts: {known})")
    return target, list(pyinfra_inventory.get_group(MONITOR_GROUP, []))


def _expire_silences(monitor, host: str) -> list[str]:
    """Expire the silences earlier windows made for ``host`` on ``monitor``: what was done."""
    done = []
    for silence_id in window_silences(json.loads(_run(monitor, f"curl -fsS --max-time 5 {SILENCES_API}")), host):
        _run(monitor, f"curl -fsS --max-time 5 -X DELETE http://{ALERTMANAGER_ADDRESS}/api/v2/silence/{silence_id}")
        done.append(f"{monitor.name}: silence {silence_id} expired")
    return done


def start(inventory_path: str, window: Window, now: datetime | None = None) -> list[str]:
    """Open ``window``: what was done, one line each."""
    now = now or datetime.now(UTC)
    target, monitors = _hosts(inventory_path, window.host)
    done = []
    for monitor in monitors:
        done += _expire_silences(monitor, window.host)  # a new window replaces an open one
        for silence in window.silences(now):
            posted = json.loads(_run(monitor, silence_script(silence)))
            matcher = silence["matchers"][0]
            done.append(f"{monitor.name}: Alertmanager silence {posted.get('silenceID')} on "
                        f"{matcher['name']}={matcher['value']}")
    _run(target, start_script(window, now))
    done.append(f"{window.host}: Monit stopped acting on {', '.join(window.targets)}; monitored again in "
                f"{window.seconds}s by {TIMER_UNIT}.timer")
    done.append("hosted monitors: not paused (they could not resume by themselves)")
    return done


def end(inventory_path: str, host: str) -> list[str]:
    """Close the window on ``host`` now: what was done, one line each."""
    target, monitors = _hosts(inventory_path, host)
    _run(target, end_script())
    done = [f"{host}: Monit acting again"]
    for monitor in monitors:
        done += _expire_silences(monitor, host)
    return done
