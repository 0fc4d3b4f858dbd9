"""Maintenance windows: "I am working on web1 for 30 minutes, don't page anyone".

``start`` makes Monit stop acting on the named services of a host (``monit unmonitor``; all
of them when none is named), puts Alertmanager silences on the host's alerts (matcher
``host=<name>``, the label every rule carries, and ``primary=<name>``: a service address it
is the primary of, which failover moves away meanwhile) through the monitor host's loopback API, and
leaves a systemd timer on the host that monitors them again when the window ends; the
silence ends at the same moment (its ``endsAt``). So a window nobody ends still ends. The
timer is a unit file with ``Persistent=true``, not a transient one: a host rebooted during
the window still ends it (Monit keeps a check unmonitored across restarts). ``end`` does
the same at once. The window is recorded in ``WINDOW_FILE`` on the host, which
``holdfast status`` shows.

The host's Healthchecks.io check is paused and its heartbeat timer stopped for the window,
so a reboot pages nobody; the end starts the heartbeat again and its first ping resumes
the check (Healthchecks.io resumes a paused check at its next ping). A monitor host's
check is not paused: if it did not come back, nothing else would say so.

A site the host serves alone goes down with it: its UptimeRobot monitor gets a one-time
UptimeRobot maintenance window of the same length, which UptimeRobot ends by itself, and
which ``end`` deletes. A site another host also serves stays watched: a site down from
outside during the window is not the window's work.
"""

import json
import os
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter, ValidationError

from holdfast import loading, providers
from holdfast.forms import Duration
from holdfast.hosted_monitors import UNIT as HEARTBEAT_UNIT
from holdfast.inventory import MONITOR_GROUP, read_inventory, ssh_command
from holdfast.monitoring import ALERTMANAGER_ADDRESS
from holdfast.providers import healthchecks, uptimerobot
from holdfast.providers.api import Api
from holdfast.providers.model import Existing
from holdfast.safe_config import STATE_DIR, UNIT_DIR
from holdfast.settings import HostedMonitors, HostSettings

TIMER_UNIT = "holdfast-maintenance-end"
WINDOW_FILE = f"{STATE_DIR}/maintenance"
END_SCRIPT = f"{STATE_DIR}/maintenance-end"  # what the timer runs, and `end` runs at once
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


def _end_of(window: Window, heartbeat_paused: bool) -> str:
    """What ends the window on the host: monitor the checks again, restart the heartbeat
    (its first ping resumes the paused check), remove the timer, forget the window."""
    unit = f"{UNIT_DIR}/{TIMER_UNIT}"
    return "".join([
        *(f"monit monitor {shlex.quote(t)}\n" for t in window.targets),
        f"systemctl enable --now {HEARTBEAT_UNIT}.timer\nsystemctl start --no-block {HEARTBEAT_UNIT}.service\n"
        if heartbeat_paused else "",
        f"systemctl disable --now {TIMER_UNIT}.timer\nrm -f {unit}.timer {unit}.service {WINDOW_FILE} {END_SCRIPT}\n",
        "systemctl daemon-reload\n",
    ])


def timer_units(seconds: int) -> str:
    """On the host: the window's end as unit files, the service that runs ``END_SCRIPT`` and
    its timer. The timer fires ``seconds`` after it starts, and at the end's time by the
    host's clock (computed there: no skew with this machine), which ``Persistent`` keeps
    across a reboot: a host down at the end runs it when it boots."""
    unit = f"{UNIT_DIR}/{TIMER_UNIT}"
    description = "[Unit]\nDescription=End of a Holdfast maintenance window\n\n"
    service = f"{description}[Service]\nType=oneshot\nExecStart=/bin/sh {END_SCRIPT}\n"
    timer_tail = (f"OnActiveSec={seconds}s\nAccuracySec=1s\nPersistent=true\n\n"
                  "[Install]\nWantedBy=timers.target\n")
    return (f"printf '%s' {shlex.quote(service)} > {unit}.service && "
            f"end=$(date -u -d '+{seconds} seconds' '+%Y-%m-%d %H:%M:%S') && "
            f"{{ printf '%s' {shlex.quote(description + '[Timer]' + chr(10))}; printf 'OnCalendar=%s UTC\\n' \"$end\"; "
            f"printf '%s' {shlex.quote(timer_tail)}; }} > {unit}.timer")


def start_script(window: Window, now: datetime, heartbeat_paused: bool = False) -> str:
    """On the host: end an open window (a new one replaces it), stop Monit acting (and the
    heartbeat, when its check is paused), schedule the end, record the window (one command)."""
    until = now + timedelta(seconds=window.seconds)
    record = json.dumps({"until": until.astimezone(UTC).isoformat(timespec="seconds"), "reason": window.reason,
                         "services": window.targets})
    return " && ".join([
        f"systemctl stop {TIMER_UNIT}.timer 2>/dev/null; if [ -f {END_SCRIPT} ]; then /bin/sh {END_SCRIPT}; fi; true",
        f"mkdir -p {STATE_DIR}",
        f"printf '%s' {shlex.quote(_end_of(window, heartbeat_paused))} > {END_SCRIPT}",
        *(f"monit unmonitor {shlex.quote(target)}" for target in window.targets),
        *([f"{{ systemctl disable --now --quiet {HEARTBEAT_UNIT}.timer; "
           f"systemctl stop {HEARTBEAT_UNIT}.service; true; }}"] if heartbeat_paused else []),
        timer_units(window.seconds),
        f"systemctl daemon-reload && systemctl enable --now --quiet {TIMER_UNIT}.timer",
        f"printf '%s\\n' {shlex.quote(record)} > {WINDOW_FILE}",
    ])


def end_script() -> str:
    """On the host: cancel the timer and run what it would have (monitor again, forget the
    window); with no window recorded, monitor everything."""
    return (f"systemctl stop {TIMER_UNIT}.timer 2>/dev/null; "
            f"if [ -f {END_SCRIPT} ]; then /bin/sh {END_SCRIPT}; else monit monitor all; rm -f {WINDOW_FILE}; fi")


@dataclass(frozen=True)
class HeartbeatCheck:
    """The host's Healthchecks.io check that a window pauses, and the API to pause it with."""

    api: Api
    check: Existing


def heartbeat_check(hosted: HostedMonitors, host_name: str, monitor_host: bool,
                    environ: Mapping[str, str] = os.environ) -> tuple[HeartbeatCheck | None, str]:
    """The host's check (Holdfast's own) a window pauses, read before the host is touched;
    or None and why not."""
    key_env = hosted.healthchecks.api_key_env
    if monitor_host:
        return None, (f"{healthchecks.NAME}: {host_name}'s check not paused: a monitor host's heartbeat is what "
                      "tells of it if it does not come back")
    if not environ.get(key_env):
        return None, f"{healthchecks.NAME}: {host_name}'s check not paused, {key_env} is not set"
    api = healthchecks.connect(hosted, environ[key_env])
    try:
        check = healthchecks.host_check(api, hosted, host_name)
    except providers.ProviderError as error:
        raise MaintenanceError(f"{healthchecks.NAME}: {error}; nothing was changed") from None
    if check is None:
        return None, f"{healthchecks.NAME}: {host_name} has no check of Holdfast's to pause"
    return HeartbeatCheck(api, check), ""


def pause_heartbeat(found: HeartbeatCheck, host_name: str) -> str:
    """Pause the check, once the host's heartbeat has stopped (a ping in between would resume it)."""
    try:
        healthchecks.pause(found.api, found.check)
    except providers.ProviderError as error:
        raise MaintenanceError(f"{healthchecks.NAME}: {error}: {host_name}'s heartbeat is stopped for the window "
                               "but its check is not paused (`end` starts the heartbeat again)") from None
    return (f"{healthchecks.NAME}: check {found.check.name!r} paused, {host_name}'s heartbeat stopped until the "
            "window ends (its first ping then resumes the check)")


@dataclass(frozen=True)
class SiteMonitors:
    """UptimeRobot's monitors of the sites a window takes down, and the API to pause them with."""

    api: Api
    monitors: list[Existing]


def site_monitors(fleet: dict[str, HostSettings], host_name: str,
                  environ: Mapping[str, str] = os.environ) -> tuple[SiteMonitors | None, str]:
    """Holdfast's UptimeRobot monitors of the sites ``host_name`` serves alone, read before
    any host is touched; or None and why not."""
    hosted = fleet[host_name].hosted_monitors
    others = [other for name, other in fleet.items() if name != host_name]
    alone = sorted(site for site in fleet[host_name].sites if not any(site in other.sites for other in others))
    if not alone:
        return None, f"{uptimerobot.NAME}: no site served by {host_name} alone: every site stays watched"
    key_env = hosted.uptimerobot.api_key_env
    if not environ.get(key_env):
        return None, f"{uptimerobot.NAME}: {', '.join(alone)} still watched, {key_env} is not set"
    api = uptimerobot.connect(hosted, environ[key_env])
    try:
        monitors = [monitor for monitor in uptimerobot.existing(api, hosted) if monitor.owned and monitor.name in alone]
    except providers.ProviderError as error:
        raise MaintenanceError(f"{error}; nothing was changed") from None
    if not monitors:
        return None, f"{uptimerobot.NAME}: no monitor of Holdfast's for {', '.join(alone)}"
    return SiteMonitors(api, monitors), ""


def pause_sites(found: SiteMonitors, hosted: HostedMonitors, window: Window, now: datetime) -> list[str]:
    """Replace the host's open UptimeRobot windows with one over ``found``'s monitors, before
    any host is touched: what was done."""
    try:
        done = _close_windows(found.api, window.host)
        window_id = uptimerobot.open_window(found.api, hosted, window.host, window.reason, found.monitors, now,
                                            window.seconds)
    except providers.ProviderError as error:
        raise MaintenanceError(f"{error}; no host was changed") from None
    names = ", ".join(monitor.name for monitor in found.monitors)
    return [*done, f"{uptimerobot.NAME}: maintenance window {window_id} over {names} (served by {window.host} "
                   f"alone) for {window.seconds}s"]


def resume_sites(hosted: HostedMonitors, host: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Delete the host's UptimeRobot windows now (each would also end by itself): what was done."""
    key = environ.get(hosted.uptimerobot.api_key_env)
    if not key:
        return []
    try:
        return _close_windows(uptimerobot.connect(hosted, key), host)
    except providers.ProviderError as error:
        raise MaintenanceError(f"{error} (UptimeRobot ends it by itself at the window's end)") from None


def _close_windows(api: Api, host: str) -> list[str]:
    done = []
    for window in uptimerobot.host_windows(api, host):
        uptimerobot.close_window(api, window)
        done.append(f"{uptimerobot.NAME}: maintenance window {window['id']} deleted")
    return done


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
    """The inventory, its host ``name`` and the monitor hosts (whose Alertmanager silences it)."""
    pyinfra_inventory = read_inventory(inventory_path)
    target = pyinfra_inventory.get_host(name, None)
    if target is None:
        known = ", ".join(h.name for h in pyinfra_inventory)
        raise MaintenanceError(f"HOST={name!r}: not in {inventory_path} (its hosts: {known})")
    return pyinfra_inventory, target, list(pyinfra_inventory.get_group(MONITOR_GROUP, []))


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
    pyinfra_inventory, target, monitors = _hosts(inventory_path, window.host)
    fleet = loading.load(pyinfra_inventory)
    hosted = fleet[window.host].hosted_monitors
    heartbeat, why_not = heartbeat_check(hosted, window.host, target in monitors)
    sites, sites_why_not = site_monitors(fleet, window.host)
    done = pause_sites(sites, hosted, window, now) if sites else [sites_why_not]
    for monitor in monitors:
        done += _expire_silences(monitor, window.host)  # a new window replaces an open one
        for silence in window.silences(now):
            posted = json.loads(_run(monitor, silence_script(silence)))
            matcher = silence["matchers"][0]
            done.append(f"{monitor.name}: Alertmanager silence {posted.get('silenceID')} on "
                        f"{matcher['name']}={matcher['value']}")
    _run(target, start_script(window, now, heartbeat_paused=heartbeat is not None))
    done.append(f"{window.host}: Monit stopped acting on {', '.join(window.targets)}; monitored again in "
                f"{window.seconds}s by {TIMER_UNIT}.timer")
    done.append(pause_heartbeat(heartbeat, window.host) if heartbeat else why_not)
    return done


def end(inventory_path: str, host: str) -> list[str]:
    """Close the window on ``host`` now: what was done, one line each."""
    pyinfra_inventory, target, monitors = _hosts(inventory_path, host)
    _run(target, end_script())
    done = [f"{host}: Monit acting again"]
    for monitor in monitors:
        done += _expire_silences(monitor, host)
    return done + resume_sites(loading.load(pyinfra_inventory)[host].hosted_monitors, host)
