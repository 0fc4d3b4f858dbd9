"""``python -m holdfast status INVENTORY``: the fleet at a glance, read-only.

Gathering and rendering are apart. ``gather`` reads every host over SSH in parallel, one
batched command per host: a script of read-only commands whose output comes back in
sections (Monit's summary, the slices' use and limits as systemd accounts them, the
checksums of the files Holdfast would render, the certificates nginx serves, on the
monitor host Alertmanager's alerts and silences from its loopback API); the hosted
monitors through their providers' listing calls; the audit's inventory-wide findings.
``render`` and ``as_json`` turn the ``Fleet`` into a screen or JSON. Nothing here writes
to a host or a provider.
"""

import json
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_host, ctx_inventory

from holdfast import (
    audit,
    bans,
    copies,
    failover,
    firewall,
    loading,
    monit,
    monitoring,
    nginx,
    php_fpm,
    providers,
    replication,
    slices,
)
from holdfast.facts import FileStates
from holdfast.inventory import MONITOR_GROUP, WATCHED_GROUP, monitor_addresses, ssh_command
from holdfast.maintenance import WINDOW_FILE
from holdfast.safe_config import ConfigFile
from holdfast.settings import HostSettings

COMMAND_TIMEOUT = 15
SECTION_MARK = "@@@holdfast-status "
SLICE_PROPERTIES = ("Id", "MemoryCurrent", "MemoryMax", "CPUUsageNSec", "CPUQuotaPerSecUSec", "TasksCurrent",
                    "TasksMax")
# The capabilities whose files are compared for drift; the others' are listed as not compared.
NOT_COMPARED = "base (the swap helper), heartbeat (its key is in the environment only)"


# -- what status reports ----------------------------------------------------------------

@dataclass
class SliceUse:
    """One slice's use against its limits, as systemd accounts them (None: not set/accounted)."""

    unit: str
    memory: int | None
    memory_max: int | None
    cpu_seconds: float | None
    cpu_quota_percent: float | None
    tasks: int | None
    tasks_max: int | None


@dataclass
class Drift:
    """How the live files compare with what Holdfast would render now."""

    compared: int = 0
    differs: list[str] = field(default_factory=list)  # "path: content", "path: mode 600, wanted 644", ...
    missing: list[str] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)  # "capability: why"


@dataclass
class HostStatus:
    name: str
    error: str = ""  # why the host could not be read (then nothing else is known)
    monit: dict[str, str] = field(default_factory=dict)  # check -> Monit's status
    slices: list[SliceUse] = field(default_factory=list)
    certificates: dict[str, str] = field(default_factory=dict)  # path -> expiry (or the error reading it)
    drift: Drift = field(default_factory=Drift)
    maintenance: dict = field(default_factory=dict)  # the open window: until, reason, services
    holds: dict[str, str] = field(default_factory=dict)  # site -> the service address this host holds
    banned: dict[str, str] = field(default_factory=dict)  # address -> when its ban ends (holdfast/bans.py)
    bans_error: str = ""  # why the bans could not be read, on a host that bans


@dataclass
class Alert:
    name: str
    host: str
    tier: str
    state: str  # Alertmanager's: active, suppressed
    since: str
    summary: str


@dataclass
class Silence:
    id: str
    matchers: str
    ends: str
    by: str
    comment: str


@dataclass
class Fleet:
    inventory: str
    seconds: float
    hosts: list[HostStatus]
    alerts: list[Alert] = field(default_factory=list)
    silences: list[Silence] = field(default_factory=list)
    alertmanager_error: str = ""
    hosted: list[str] = field(default_factory=list)  # one line per provider and per monitor
    service_addresses: list[str] = field(default_factory=list)  # who holds each site's address
    findings: list[str] = field(default_factory=list)


# -- reading what the hosts print ------------------------------------------------------

def sections(output: str) -> dict[str, str]:
    """The batched command's output, by section name."""
    found: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith(SECTION_MARK):
            current = found.setdefault(line[len(SECTION_MARK):].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip("\n") for name, lines in found.items()}


def monit_summary(text: str) -> dict[str, str]:
    """Status of every check ``monit -B summary`` lists, by check name."""
    rows = [[cell.strip() for cell in line.strip().split("  ") if cell.strip()] for line in text.splitlines()[2:]]
    return {row[0]: row[1] for row in rows if len(row) == 3}


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) < 2**64 - 1 else None


def memory_of(kib: str | None) -> int:
    """The host's memory in bytes as the deploy reads it (pyinfra's Memory fact: whole MiB),
    from MemTotal's KiB; 0 if unreadable."""
    number = _number(kib)
    return round(number / 1024) * slices.MiB if number else 0


_QUOTA = re.compile(r"(?P<number>\d+(?:\.\d+)?)(?P<unit>us|ms|s)")
_QUOTA_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _quota_percent(value: str | None) -> float | None:
    """CPUQuotaPerSecUSec (``1s``, ``500ms``, ``infinity``) in percent of one CPU."""
    found = _QUOTA.fullmatch(value or "")
    return round(float(found["number"]) * _QUOTA_UNITS[found["unit"]] * 100, 1) if found else None


def slice_use(text: str) -> list[SliceUse]:
    """``systemctl show -p ...`` of several slices (blocks apart by blank lines)."""
    found = []
    for block in text.split("\n\n"):
        values = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if not values.get("Id"):
            continue
        cpu = _number(values.get("CPUUsageNSec"))
        found.append(SliceUse(
            unit=values["Id"],
            memory=_number(values.get("MemoryCurrent")),
            memory_max=_number(values.get("MemoryMax")),
            cpu_seconds=None if cpu is None else round(cpu / 1e9, 1),
            cpu_quota_percent=_quota_percent(values.get("CPUQuotaPerSecUSec")),
            tasks=_number(values.get("TasksCurrent")),
            tasks_max=_number(values.get("TasksMax")),
        ))
    return found


def drift(wanted: list[ConfigFile], files_text: str, not_compared: list[str]) -> Drift:
    """Compare ``wanted`` with what ``FileStates`` printed of the same paths."""
    live = FileStates().process(files_text.splitlines())
    result = Drift(compared=len(wanted), not_compared=not_compared)
    for file in wanted:
        found = live.get(file.path)
        if found is None:
            result.missing.append(file.path)
        elif found.sha1 != file.state.sha1:
            result.differs.append(f"{file.path}: content")
        elif found != file.state:
            result.differs.append(f"{file.path}: {found.mode} {found.user}:{found.group}, "
                                  f"wanted {file.mode} {file.user}:{file.group}")
    return result


def certificates(text: str) -> dict[str, str]:
    """``<path> notAfter=<date>`` lines (or the error reading the file), by path."""
    return {path: expiry.removeprefix("notAfter=") for path, _, expiry in
            (line.partition(" ") for line in text.splitlines() if line.strip())}


def window(text: str) -> dict:
    """The maintenance window recorded on the host (holdfast/maintenance.py), if one is open."""
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return {"unreadable": text[:200]}


def alerts(text: str) -> list[Alert]:
    """Alertmanager's /api/v2/alerts, without the Watchdog (always firing, on purpose)."""
    return sorted((
        Alert(
            name=alert["labels"].get("alertname", ""),
            host=alert["labels"].get("host", ""),
            tier=alert["labels"].get("tier", ""),
            state=alert.get("status", {}).get("state", ""),
            since=alert.get("startsAt", ""),
            summary=alert.get("annotations", {}).get("summary", ""),
        )
        for alert in json.loads(text) if alert["labels"].get("alertname") != monitoring.WATCHDOG_ALERT
    ), key=lambda a: (a.host, a.name, a.tier))


def silences(text: str) -> list[Silence]:
    """Alertmanager's /api/v2/silences that are active or pending (not expired)."""
    return [
        Silence(
            id=silence["id"],
            matchers=",".join(f"{m['name']}{'=~' if m.get('isRegex') else '='}{m['value']}"
                              for m in silence["matchers"]),
            ends=silence.get("endsAt", ""),
            by=silence.get("createdBy", ""),
            comment=silence.get("comment", ""),
        )
        for silence in json.loads(text) if silence.get("status", {}).get("state") in ("active", "pending")
    ]


# -- what Holdfast would render for a host ---------------------------------------------

def pool_files(host_settings: HostSettings, memory: int) -> list[ConfigFile]:
    """The PHP-FPM pools a deploy would write on a host with ``memory`` bytes (their paths do
    not depend on it, their content does)."""
    return [file for files in php_fpm.config_files(host_settings, memory).values() for file in files]


def wanted_files(pyinfra_inventory, pyinfra_host, groups: list[str],
                 host_settings: HostSettings) -> tuple[list[ConfigFile], list[str]]:
    """The files a deploy would write on a host of ``groups``, but the pools (``pool_files``),
    and the capabilities not compared, with why (a builder that needs what is missing here,
    e.g. a secret from the environment)."""
    builders: dict[str, Callable[[], list[ConfigFile]]] = {
        "monit": lambda: monit.config_files(host_settings, monit.relay_login(host_settings),
                                            monit.event_relays(pyinfra_inventory, pyinfra_host)),
        "firewall": lambda: [
            *firewall.config_files(host_settings, monitor_addresses(pyinfra_inventory, but=pyinfra_host.name),
                                   firewall.relay_senders(pyinfra_inventory, pyinfra_host)),
            *firewall.unit_files(),
        ],
    }
    if WATCHED_GROUP in groups:
        if bans.active(host_settings):
            builders["bans"] = lambda: bans.config_files(host_settings, monitor_addresses(pyinfra_inventory))
        builders |= {
            "slices": lambda: slices.config_files(host_settings),
            "nginx": lambda: nginx.config_files(
                host_settings, monitor_addresses(pyinfra_inventory),
                nginx.acme_peers(pyinfra_inventory, pyinfra_host.name),
                read_only=replication.is_replica(pyinfra_host.name, host_settings)),
            "monit-export": lambda: monitoring.monit_export_files(host_settings),
        }
        if nginx.caches(host_settings):
            builders["nginx-cache"] = lambda: [nginx.cache_mount(host_settings)]
        if failover.active(host_settings):
            builders["failover"] = lambda: failover.config_files(pyinfra_host.name, host_settings)
        if copies.active(host_settings):
            builders["copies"] = lambda: copies.config_files(pyinfra_host.name, host_settings)
        if replication.active(host_settings):
            builders["replication"] = lambda: replication.config_files(
                pyinfra_host.name, host_settings, replication.password(host_settings))
        if monitoring.has_mysqld(host_settings):
            builders["mysqld-exporter"] = monitoring.mysqld_exporter_files
    if MONITOR_GROUP in groups:
        watched = monitoring.watched_hosts(pyinfra_inventory)
        builders |= {
            "prometheus": lambda: monitoring.prometheus_files(host_settings, watched),
            "blackbox": lambda: monitoring.blackbox_files(host_settings, watched),
            "alertmanager": lambda: monitoring.alertmanager_files(host_settings),
            "monit-relay": lambda: monitoring.monit_relay_files(pyinfra_inventory),
            "matrix-bridge": lambda: monitoring.matrix_bridge_files(host_settings.escalation),
        }
    files, skipped = [], []
    for capability, build in builders.items():
        try:
            # The builders' errors name the host and the group_data file pyinfra is on.
            with ctx_inventory.use(pyinfra_inventory), ctx_host.use(pyinfra_host):
                files += build()
        except PyinfraError as error:
            skipped.append(f"{capability}: {str(error).splitlines()[-1].strip()}")
    return files, skipped


def host_script(paths: list[str], slice_units: list[str], monitor: bool, addresses: bool = False,
                banning: bool = False) -> str:
    """The one read-only command run on a host: each part printed under its section mark."""
    parts = {
        "monit": "monit -B summary 2>&1",
        "memory": "awk '/^MemTotal:/ {print $2}' /proc/meminfo",  # KiB (awk prints bytes as 2.5e+10)
        "maintenance": f"cat {WINDOW_FILE} 2>/dev/null",
        "files": f"{{ {FileStates().command(paths)}; }} 2>/dev/null",
        "certificates": (
            "for f in $(command -v nginx >/dev/null && nginx -T 2>/dev/null | grep -oE '^\\s*ssl_certificate\\s+[^;]+' "
            "| awk '{print $2}' | sort -u); do "
            "printf '%s %s\\n' \"$f\" \"$(openssl x509 -enddate -noout -in \"$f\" 2>&1 | head -n1)\"; done"
        ),
    }
    if slice_units:
        properties = " ".join(f"-p {p}" for p in SLICE_PROPERTIES)
        parts["slices"] = f"systemctl show {properties} -- {' '.join(map(shlex.quote, slice_units))}"
    if addresses:
        parts["addresses"] = "ip -o addr show 2>/dev/null | awk '{print $4}'"
    if banning:
        parts["bans"] = f"fail2ban-client get {bans.JAIL} banip --with-time 2>&1"
    if monitor:
        api = f"http://{monitoring.ALERTMANAGER_ADDRESS}/api/v2"
        parts["alerts"] = f"curl -fsS --max-time 3 {api}/alerts 2>&1"
        parts["silences"] = f"curl -fsS --max-time 3 {api}/silences 2>&1"
    # Each mark on a line of its own, whether or not the part before ended its last line.
    return "; ".join(f"echo; echo '{SECTION_MARK}{name}'; {command}" for name, command in parts.items())


# -- gathering --------------------------------------------------------------------------

def run_on(pyinfra_host, script: str) -> tuple[dict[str, str], str]:
    """Run ``script`` on the host: its sections, or the reason it could not."""
    try:
        result = subprocess.run(ssh_command(pyinfra_host, script), capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {}, f"no answer within {COMMAND_TIMEOUT}s"
    if SECTION_MARK not in result.stdout:
        return {}, (result.stderr.strip() or f"ssh exited {result.returncode}").splitlines()[-1]
    return sections(result.stdout), ""


def read_host(pyinfra_inventory, pyinfra_host, host_settings: HostSettings, fleet: Fleet) -> HostStatus:
    """One host's status, from one batched command (and Alertmanager's, on the monitor host)."""
    groups = [name for name, hosts in pyinfra_inventory.groups.items() if pyinfra_host in hosts]
    wanted, not_compared = wanted_files(pyinfra_inventory, pyinfra_host, groups, host_settings)
    watched = WATCHED_GROUP in groups
    paths = [file.path for file in wanted + (pool_files(host_settings, 2**30) if watched else [])]
    slice_units = [slices.slice_unit(name) for name in host_settings.slices] if watched else []
    monitor = MONITOR_GROUP in groups
    service_addresses = {site: str(each.address) for site, each in host_settings.failover.sites.items()
                         if failover.active(host_settings)}
    banning = watched and bans.active(host_settings)
    found, error = run_on(pyinfra_host, host_script(paths, slice_units, monitor, bool(service_addresses), banning))
    status = HostStatus(pyinfra_host.name, error=error)
    if error:
        return status
    if watched:
        wanted += pool_files(host_settings, memory_of(found.get("memory")))
    status.monit = monit_summary(found.get("monit", ""))
    status.slices = slice_use(found.get("slices", ""))
    status.certificates = certificates(found.get("certificates", ""))
    status.maintenance = window(found.get("maintenance", ""))
    status.holds = held(service_addresses, found.get("addresses", ""))
    if banning:
        status.banned, status.bans_error = banned(found.get("bans", ""))
    status.drift = drift(wanted, found.get("files", ""), not_compared)
    if monitor:
        try:
            fleet.alerts += alerts(found.get("alerts", ""))
            fleet.silences += silences(found.get("silences", ""))
        except (ValueError, KeyError, TypeError):
            fleet.alertmanager_error = f"{pyinfra_host.name}: {found.get('alerts', '')[:200]}"
    return status


BAN_LINE = re.compile(r"^(\S+)\s+\S+ \S+ \+ \d+ = (\S+ \S+)$")


def banned(output: str) -> tuple[dict[str, str], str]:
    """The addresses banned now, each with when its ban ends, from ``fail2ban-client get JAIL
    banip --with-time`` ("ADDRESS  START + SECONDS = END" lines); or what fail2ban said
    instead (not running, no such jail)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    found = {match[1]: match[2] for match in map(BAN_LINE.match, lines) if match}
    if len(found) < len(lines):
        return found, next(line for line in lines if not BAN_LINE.match(line))[:200]
    return found, ""


def held(service_addresses: dict[str, str], output: str) -> dict[str, str]:
    """The service addresses (site -> address) among a host's own (``ip -o addr``'s
    ``address/prefix`` lines)."""
    own = {line.strip().split("/")[0] for line in output.splitlines() if line.strip()}
    return {site: address for site, address in service_addresses.items() if address in own}


def holders(fleet_settings: dict[str, HostSettings], hosts: list[HostStatus]) -> list[str]:
    """Who holds each site's service address: one host, or a line saying what is wrong."""
    wanted = {(site, str(each.address)) for host_settings in fleet_settings.values() if failover.active(host_settings)
              for site, each in host_settings.failover.sites.items()}
    unread = [host.name for host in hosts if host.error and failover.active(fleet_settings[host.name])]
    lines = []
    for site, address in sorted(wanted):
        holding = [host.name for host in hosts if host.holds.get(site) == address]
        if len(holding) == 1:
            lines.append(f"{site} {address}: held by {holding[0]}")
        elif holding:
            lines.append(f"{site} {address}: HELD BY {' AND '.join(holding)} (each answers: split brain)")
        else:
            lines.append(f"{site} {address}: HELD BY NOBODY" + (f" ({', '.join(unread)} unreadable)" if unread else ""))
    return lines


def hosted_lines(fleet_settings: dict[str, HostSettings], environ: Mapping[str, str]) -> list[str]:
    """Each provider's monitors that Holdfast owns, with their state; one line for a provider
    skipped (no key) or unreadable."""
    hosted = loading.same_on_every_host({n: s.hosted_monitors for n, s in fleet_settings.items()},
                                        "hosted_monitors")
    lines = []
    for key, provider in providers.PROVIDERS.items():
        key_env = getattr(hosted, key).api_key_env
        if not environ.get(key_env):
            lines.append(f"{provider.NAME}: skipped, {key_env} is not set")
            continue
        api = provider.connect(hosted, environ[key_env])
        try:
            found, held = provider.existing(api, hosted), provider.maintenance(api, hosted)
        except PyinfraError as error:
            lines.append(f"{provider.NAME}: unreadable: {error}")
            continue
        lines += [f"{provider.NAME}: {each.name}: {each.state or 'unknown'}" for each in found if each.owned]
        lines += [f"{provider.NAME}: {line}" for line in held]
    return lines


def gather(inventory_path: str, environ: Mapping[str, str]) -> Fleet:
    """Read the whole fleet (hosts in parallel, the providers meanwhile); changes nothing."""
    from holdfast.inventory import read_inventory

    started = time.monotonic()
    pyinfra_inventory = read_inventory(inventory_path)
    estate = audit.Estate.of(pyinfra_inventory)
    fleet = Fleet(inventory=inventory_path, seconds=0.0, hosts=[])
    hosts = list(pyinfra_inventory)
    with ThreadPoolExecutor(len(hosts) + 2) as pool:
        hosted = pool.submit(hosted_lines, estate.settings, environ)
        audited = pool.submit(audit.inventory_findings, estate)
        reads = [pool.submit(read_host, pyinfra_inventory, h, estate.settings[h.name], fleet) for h in hosts]
        fleet.hosts = [read.result() for read in reads]
        fleet.service_addresses = holders(estate.settings, fleet.hosts)
        fleet.hosted = hosted.result()
        findings = audited.result()
    blocking = audit.unacknowledged(findings, estate.settings.values())
    fleet.findings = [str(f) if f in blocking or f.severity == "warning" else f"acknowledged {f}" for f in findings]
    fleet.seconds = round(time.monotonic() - started, 2)
    return fleet


# -- rendering --------------------------------------------------------------------------

def _size(value: int | None) -> str:
    if value is None:
        return "-"
    for unit in ("", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}"
        value /= 1024
    return "-"


def _slice_line(use: SliceUse) -> str:
    cpu = "-" if use.cpu_seconds is None else f"{use.cpu_seconds}s"
    quota = "no quota" if use.cpu_quota_percent is None else f"quota {use.cpu_quota_percent:g}%"
    tasks_max = "-" if use.tasks_max is None else use.tasks_max
    return (f"{use.unit}: memory {_size(use.memory)}/{_size(use.memory_max)}, "
            f"tasks {'-' if use.tasks is None else use.tasks}/{tasks_max}, cpu {cpu} ({quota})")


def _drift_lines(found: Drift) -> list[str]:
    changed = len(found.differs) + len(found.missing)
    head = (f"drift: none, {found.compared} files as Holdfast renders them" if not changed
            else f"drift: {changed} of {found.compared} files would change")
    return [head, *(f"  differs {line}" for line in found.differs), *(f"  missing {path}" for path in found.missing),
            *(f"  not compared: {line}" for line in found.not_compared)]


def render_host(status: HostStatus) -> list[str]:
    if status.error:
        return [f"{status.name}: UNREACHABLE: {status.error}"]
    failing = {check: state for check, state in status.monit.items() if state != "OK"}
    lines = [f"{status.name}:"]
    if status.maintenance:
        window_services = ", ".join(status.maintenance.get("services", []))
        lines.append(f"MAINTENANCE until {status.maintenance.get('until')} ({window_services}): "
                     f"{status.maintenance.get('reason')}")
    monit_line = (f"monit: {len(status.monit) - len(failing)} of {len(status.monit)} checks OK" if status.monit
                  else "monit: lists no check (not installed, or not running)")
    lines.append(monit_line + "".join(f"; {check}: {state}" for check, state in sorted(failing.items())))
    lines += [f"slice {_slice_line(use)}" for use in status.slices]
    lines += [f"certificate {path}: expires {expiry}" for path, expiry in sorted(status.certificates.items())]
    lines += [f"holds {site}'s service address {address}" for site, address in sorted(status.holds.items())]
    lines += [f"banned at the firewall: {address} until {until}" for address, until in sorted(status.banned.items())]
    if status.bans_error:
        lines.append(f"bans UNREADABLE: {status.bans_error}")
    lines += _drift_lines(status.drift)
    return [lines[0], *(f"  {line}" for line in lines[1:])]


def render(fleet: Fleet) -> str:
    """The fleet on one screen."""
    lines = [f"Holdfast status of {fleet.inventory}: {len(fleet.hosts)} hosts read in {fleet.seconds:.1f}s", ""]
    for status in fleet.hosts:
        lines += render_host(status)
    if fleet.service_addresses:
        lines.append("service addresses:")
        lines += [f"  {line}" for line in fleet.service_addresses]
    lines.append("alerts:" + ("" if fleet.alerts else " none firing"))
    lines += [f"  {a.state} {a.name} host={a.host} tier={a.tier} since {a.since}: {a.summary}" for a in fleet.alerts]
    if fleet.alertmanager_error:
        lines.append(f"  Alertmanager unreadable: {fleet.alertmanager_error}")
    lines.append("silences:" + ("" if fleet.silences else " none"))
    lines += [f"  {s.matchers} until {s.ends} by {s.by}: {s.comment}" for s in fleet.silences]
    lines.append("hosted monitors:")
    lines += [f"  {line}" for line in fleet.hosted]
    lines.append("audit:" + ("" if fleet.findings else " no findings"))
    lines += [f"  {line}" for line in fleet.findings]
    return "\n".join(lines)


def as_json(fleet: Fleet) -> str:
    return json.dumps(asdict(fleet), indent=1)
