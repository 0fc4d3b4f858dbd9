"""The single-point-of-failure audit of the escalation plan, the inventory and the hosts.

The plan itself (contacts, tiers, the mail relay) is settings (holdfast/settings.py);
Monit, Alertmanager and the hosted monitors read their recipients from it. The audit
looks for the ways an outage goes unnoticed or unfixed: one person per tier, one
channel, nobody outside the company, a monitor or a mail relay on a box it watches, one
admin key, a secret in the repository, a site on one host (an error) or on several without
a service address that moves (a warning). It runs at the start of every deploy
(``deploy_audit``) and on its own (``make audit``). An error stops the deploy before any
operation runs unless group_data acknowledges the rule with a written reason.
"""

import difflib
import ipaddress
import os
import re
import subprocess
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pyinfra import host, inventory, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError

from holdfast import failover, firewall, loading, planning, replication, settings
from holdfast.facts import AdminKeys, Listener, ListeningSockets, NginxAllowList, UnitRestartPolicies
from holdfast.inventory import MONITOR_GROUP, WATCHED_GROUP, address_of, monitor_addresses
from holdfast.monitoring import has_mysqld
from holdfast.settings import HostSettings


class AuditError(PyinfraError):
    """The audit found errors that group_data does not acknowledge."""


@dataclass(frozen=True, order=True)
class Finding:
    rule: str  # the name it is registered under (RULES, HOST_RULES)
    severity: Literal["error", "warning"]
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: [{self.rule}] {self.subject}: {self.message}"


@dataclass(frozen=True)
class Estate:
    """What the audit looks at: every host's settings, the groups, the project's files, and
    the deploy's environment (which decides, e.g., whether the hosts get a heartbeat)."""

    settings: dict[str, HostSettings]
    groups: dict[str, list[str]]
    addresses: dict[str, str]
    project: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def of(cls, pyinfra_inventory, project: Path | None = None) -> "Estate":
        """The estate of a valid inventory: SettingsError for invalid group_data, including an
        acknowledgement of a rule the audit does not have."""
        fleet = loading.load(pyinfra_inventory)
        unknown = unknown_acknowledgements(pyinfra_inventory, fleet)
        if unknown:
            raise loading.refuse_in(pyinfra_inventory, unknown)
        return cls(
            settings=fleet,
            groups={name: [h.name for h in hosts] for name, hosts in pyinfra_inventory.groups.items()},
            addresses={h.name: address_of(h) for h in pyinfra_inventory},
            project=project or Path.cwd(),
        )

    def group(self, name: str) -> list[str]:
        return self.groups.get(name, [])

    @property
    def plans(self):
        """Each distinct escalation plan in the inventory (normally one, from all.py)."""
        return list({id(s.escalation): s.escalation for s in self.settings.values()}.values())


RULES: dict[str, Callable[[Estate], Iterable[Finding]]] = {}


def _registrar(registry: dict):
    """A decorator that registers a rule in ``registry`` under its name."""

    def rule(name: str):
        def register(check):
            registry[name] = check
            return check

        return register

    return rule


rule = _registrar(RULES)  # an inventory-wide rule, from settings and groups


@rule("tier-members")
def _tier_members(estate: Estate):
    for plan in estate.plans:
        for tier in plan.tiers:
            if len(tier.members) < 2:
                yield Finding("tier-members", "error", f"tier {tier.name}",
                              f"only {', '.join(tier.members)}: one person away from nobody answering")


@rule("tier-channels")
def _tier_channels(estate: Estate):
    for plan in estate.plans:
        for tier in plan.tiers:
            for channel in tier.channels:
                for member in tier.members:
                    if plan.contacts[member].address(channel) is None:
                        missing = settings.CHANNEL_FIELD[channel]
                        yield Finding("tier-channels", "error", f"tier {tier.name}",
                                      f"reaches people by {channel}, but {member} has no {missing}")


@rule("channel-types")
def _channel_types(estate: Estate):
    for plan in estate.plans:
        channels = {channel for tier in plan.tiers for channel in tier.channels}
        if len(channels) < 2:
            yield Finding("channel-types", "error", "escalation plan",
                          f"every tier uses only {', '.join(channels)}: one broken channel silences every alert")


@rule("external-contact")
def _external_contact(estate: Estate):
    for plan in estate.plans:
        top = plan.tiers[-1]
        if all(plan.contacts[member].internal for member in top.members):
            yield Finding("external-contact", "error", f"tier {top.name}",
                          "the last tier has nobody outside the company (a contractor, the host's support)")


@rule("monitor-placement")
def _monitor_placement(estate: Estate):
    outside = [name for name in estate.group(MONITOR_GROUP) if name not in estate.group(WATCHED_GROUP)]
    if not outside:
        yield Finding("monitor-placement", "error", f"group {MONITOR_GROUP}",
                      f"no monitor host outside the watched hosts ({WATCHED_GROUP}): "
                      "a box that dies takes its own monitor with it")


@rule("relay-placement")
def _relay_placement(estate: Estate):
    watched = {name for name in estate.group(WATCHED_GROUP)} | {
        estate.addresses[name] for name in estate.group(WATCHED_GROUP)
    }
    relays = {s.mail.relay for s in estate.settings.values()}
    for relay in sorted(relays & watched):
        yield Finding("relay-placement", "error", f"mail relay {relay}",
                      "alert mail goes through a watched host: when it is down, so is every alert")


@rule("hosted-heartbeat")
def _hosted_heartbeat(estate: Estate):
    """The only monitor host and a mail relay of the inventory's: their death silences every
    alert, so something outside must miss them (the host's heartbeat to Healthchecks.io, or
    for a monitor host the Watchdog alert calling monitoring.watchdog_url)."""
    monitors = estate.group(MONITOR_GROUP)
    named = {address: name for name, address in estate.addresses.items()}
    relays = {named.get(s.mail.relay, s.mail.relay) for s in estate.settings.values()} & set(estate.settings)
    alone = set(monitors) if len(monitors) == 1 else set()
    for name in sorted(alone | relays):
        host_settings = estate.settings[name]
        ping_key_env = host_settings.hosted_monitors.healthchecks.ping_key_env
        watchdog = name in monitors and host_settings.monitoring.watchdog_url is not None
        if estate.environ.get(ping_key_env) or watchdog:
            continue
        roles = [role for role, holds in (("the only monitor host", name in alone), ("the mail relay", name in relays))
                 if holds]
        missing = f"no heartbeat ({ping_key_env} is not in the deploy's environment)"
        if name in monitors:
            missing += " and no monitoring.watchdog_url"
        yield Finding("hosted-heartbeat", "warning", f"host {name}",
                      f"{' and '.join(roles)}, with {missing}: when it dies, no alert goes out and nobody "
                      "outside hears of it")


# An assignment to a secret-sounding name, or a private key.
_SECRET_ASSIGNMENT = re.compile(
    r"""(?i)(?P<name>[\w-]*(password|passwd|secret|token|api[_-]?key)[\w-]*)["']?\s*[:=]\s*(?P<q>["'])(?P<value>[^"']*)(?P=q)"""
)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# Values that name a secret rather than hold one: an environment variable, a reference.
_NOT_A_SECRET = re.compile(r"[A-Z][A-Z0-9_]*|\$\{?\w+\}?|.{0,7}")


def _holds_secret(line: str) -> bool:
    if _PRIVATE_KEY.search(line):
        return True
    return any(not _NOT_A_SECRET.fullmatch(match["value"]) for match in _SECRET_ASSIGNMENT.finditer(line))


def _tracked_files(project: Path) -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=project, capture_output=True, text=True)
    if listed.returncode == 0:
        return [project / name for name in listed.stdout.split("\0") if name]
    skipped = {".git", ".venv", "__pycache__", ".pytest_cache"}
    return [p for p in project.rglob("*") if p.is_file() and not skipped & set(p.relative_to(project).parts)]


@rule("tracked-secrets")
def _tracked_secrets(estate: Estate):
    for path in _tracked_files(estate.project):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if _holds_secret(line):
                yield Finding("tracked-secrets", "error", f"{path.relative_to(estate.project)}:{number}",
                              "looks like a secret in a tracked file: take it from the environment instead")


@rule("edge-timeouts")
def _edge_timeouts(estate: Estate):
    for host_name in estate.group(WATCHED_GROUP):
        host_settings = estate.settings[host_name]
        for name, site in host_settings.sites.items():
            key = site.backend.service
            own, edge = host_settings.services[key].app_timeout, site.backend.read_timeout
            if own is None:
                yield Finding("edge-timeouts", "warning", f"site {name}",
                              f"{key} has no request timeout of its own (services.{key}.request_timeout): "
                              f"after nginx gives up at {edge}s, a looping request keeps its worker until Monit "
                              "restarts the service")
            elif own > edge:
                yield Finding("edge-timeouts", "warning", f"site {name}",
                              f"{key} lets a request run {own}s and nginx waits {edge}s: the worker keeps "
                              f"working {own - edge}s after the visitor got the fallback page")


@rule("single-host-site")
def _single_host_site(estate: Estate):
    served_by: dict[str, list[str]] = {}
    for host_name in estate.group(WATCHED_GROUP):
        for name in estate.settings[host_name].sites:
            served_by.setdefault(name, []).append(host_name)
    for name, hosts in served_by.items():
        if len(hosts) < 2:
            yield Finding("single-host-site", "error", f"site {name}",
                          f"served by one host ({hosts[0]}): when it dies the site is down until it is rebuilt")
        elif not any(failover.active(estate.settings[host]) and name in estate.settings[host].failover.sites
                     for host in hosts):
            yield Finding("single-host-site", "warning", f"site {name}",
                          f"served by {', '.join(hosts)} but without a service address (failover.sites): visitors "
                          "reach one host, and nothing moves them to another when it dies")


@rule("database-without-replica")
def _database_without_replica(estate: Estate):
    for host_name in estate.group(WATCHED_GROUP):
        host_settings = estate.settings[host_name]
        if has_mysqld(host_settings) and not replication.active(host_settings):
            yield Finding("database-without-replica", "warning", f"host {host_name}",
                          "its database has no replica (failover.database): if the host is lost, so is the "
                          "site's data since the last backup, and a standby would have no copy of it to serve")


@dataclass(frozen=True)
class HostFacts:
    """What the host rules read on one host."""

    name: str
    admin_keys: int
    units: dict[str, dict[str, str]] = field(default_factory=dict)
    allow_listed: list[str] | None = None  # networks of the live nginx allow-list
    listening: list[Listener] = field(default_factory=list)  # the host's listening sockets
    relay_senders: dict[str, list[str]] = field(default_factory=dict)  # what the firewall lets send Monit's events


HOST_RULES: dict[str, Callable[..., Iterable[Finding]]] = {}


host_rule = _registrar(HOST_RULES)  # a rule about one host, from its facts


@host_rule("admin-keys")
def _admin_keys(host_settings, facts, monitors):
    if facts.admin_keys < 2:
        yield Finding("admin-keys", "error", f"host {facts.name}",
                      f"{facts.admin_keys} admin SSH key(s): one lost laptop locks everyone out")


def _seconds(timespan: str) -> float:
    """systemd's printed time span ('10s', '1min 30s', 'infinity') in seconds."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600, "d": 86400}
    if timespan == "infinity":
        return float("inf")
    return sum(float(n) * units[unit] for n, unit in re.findall(r"([\d.]+)\s*(us|ms|min|s|h|d)", timespan))


@host_rule("supervisor-conflict")
def _supervisor_conflict(host_settings, facts, monitors):
    cycle = host_settings.monit.cycle
    for name, service in host_settings.services.items():
        policy = facts.units.get(service.unit, {})
        if policy.get("LoadState") != "loaded":
            continue
        if policy.get("Restart", "no") != "no":
            yield Finding("supervisor-conflict", "warning", f"service {name}",
                          f"systemd restarts {service.unit} too (Restart={policy['Restart']}): two supervisors act "
                          "on one death, and Monit's restart-loop count misses systemd's restarts")
        burst, interval = int(policy.get("StartLimitBurst") or 0), _seconds(policy.get("StartLimitIntervalUSec", "0"))
        monit_starts = int(interval // cycle) + 1 if interval != float("inf") else service.supervision.restart_limit
        if burst and min(monit_starts, service.supervision.restart_limit + 1) >= burst:
            yield Finding("supervisor-conflict", "error", f"service {name}",
                          f"Monit may start {service.unit} {burst} times within {interval:g}s, where systemd's start "
                          f"limit (StartLimitBurst={burst}) refuses it: the service stays down while Monit keeps "
                          "trying")


@host_rule("monitors-allow-listed")
def _monitors_allow_listed(host_settings, facts, monitors):
    if facts.allow_listed is None:
        return
    networks = [ipaddress.ip_network(network) for network in facts.allow_listed]
    for monitor, addresses in monitors.items():
        for address in addresses:
            if not any(ipaddress.ip_address(address) in network for network in networks):
                yield Finding("monitors-allow-listed", "warning", f"host {facts.name}",
                              f"the live nginx allow-list lacks monitors host {monitor} ({address}): its probes "
                              "are rate limited like a visitor's until the next deploy")


@host_rule("exposure")
def _exposure(host_settings, facts, monitors):
    opened = {(opening.protocol, port) for opening in firewall.openings(host_settings, monitors, facts.relay_senders)
              for port in opening.ports}
    for listener in facts.listening:
        if not listener.on_loopback and (listener.protocol, listener.port) not in opened:
            yield Finding("exposure", "warning", f"host {facts.name}",
                          f"{listener.process} listens on {listener.protocol} port {listener.port} of address "
                          f"{listener.address}, which the firewall policy does not mention: dropped from outside "
                          "(open it in firewall.allow, or make it listen on loopback only)")


def host_findings(host_settings: HostSettings, facts: HostFacts, monitors: dict[str, list[str]]) -> list[Finding]:
    """Findings about one host, from its facts (``monitors``: the monitors hosts' addresses)."""
    return sorted({finding for check in HOST_RULES.values() for finding in check(host_settings, facts, monitors)})


def unknown_acknowledgements(pyinfra_inventory, fleet: dict[str, HostSettings]) -> list[tuple]:
    """``audit.acknowledged`` names that are no rule's (the rules name themselves when they
    register), as (host, problem) pairs: key, value, the rules there are."""
    known = sorted(RULES | HOST_RULES)
    problems = []
    for each in pyinfra_inventory:
        for name in fleet[each.name].audit.acknowledged:
            if name not in known:
                hint = difflib.get_close_matches(name, known, n=1)
                expected = f"expected a rule of the audit ({', '.join(known)})" + (
                    f"; did you mean {hint[0]!r}?" if hint else "")
                problems.append((each, (("audit", "acknowledged"), name, expected)))
    return problems


def inventory_findings(estate: Estate) -> list[Finding]:
    """Every inventory-wide finding, each once, in a stable order."""
    return sorted({finding for check in RULES.values() for finding in check(estate)})


def unacknowledged(findings: Iterable[Finding], acknowledgers: Iterable[HostSettings]) -> list[Finding]:
    """Errors not acknowledged by every one of ``acknowledgers``."""
    acknowledgers = list(acknowledgers)
    return [
        finding for finding in findings
        if finding.severity == "error"
        and not all(finding.rule in s.audit.acknowledged for s in acknowledgers)
    ]


def report(findings: list[Finding], acknowledgers: list[HostSettings]) -> None:
    """Log every finding; raise AuditError for the errors nobody acknowledged."""
    blocking = unacknowledged(findings, acknowledgers)
    for finding in findings:
        if finding in blocking or finding.severity == "warning":
            logger.warning(f"    audit {finding}")
        else:
            reasons = sorted({s.audit.acknowledged[finding.rule] for s in acknowledgers})
            logger.info(f"    audit, acknowledged ({' / '.join(reasons)}): {finding}")
    if blocking:
        raise AuditError(
            "the single-point-of-failure audit failed, nothing was changed on any host:\n  "
            + "\n  ".join(map(str, blocking))
            + "\nFix them, or acknowledge a rule in group_data: "
            "audit = {'acknowledged': {'<rule>': '<the reason it is accepted>'}}"
        )


_audited: "weakref.WeakSet" = weakref.WeakSet()


def _audit_inventory_once(pyinfra_inventory) -> None:
    """The inventory-wide audit, once per inventory: pyinfra prepares the hosts side by side."""
    if pyinfra_inventory in _audited:
        return
    _audited.add(pyinfra_inventory)
    estate = Estate.of(pyinfra_inventory)
    report(inventory_findings(estate), list(estate.settings.values()))


def _restart_policies(host_settings: HostSettings) -> planning.Query:
    return UnitRestartPolicies, {"units": [service.unit for service in host_settings.services.values()]}


def reads(host_settings: HostSettings) -> list[planning.Query]:
    """What the audit reads of a host (planning.read_together)."""
    return [(AdminKeys, {}), *([_restart_policies(host_settings)] if host_settings.services else []),
            *([(NginxAllowList, {})] if host_settings.sites else []), (ListeningSockets, {})]


def _facts(host_settings: HostSettings) -> HostFacts:
    return HostFacts(
        name=host.name,
        admin_keys=planning.fact((AdminKeys, {})),
        units=planning.fact(_restart_policies(host_settings)) if host_settings.services else {},
        allow_listed=planning.fact((NginxAllowList, {})) if host_settings.sites else None,
        listening=planning.fact((ListeningSockets, {})),
        relay_senders=firewall.relay_senders(inventory, host),
    )


@deploy("Single-point-of-failure audit")
def deploy_audit() -> None:
    """Audit the plan and the inventory once, and this host, before any change."""
    _audit_inventory_once(host.inventory)
    host_settings = loading.current()
    monitors = monitor_addresses(inventory)
    report(host_findings(host_settings, _facts(host_settings), monitors), [host_settings])
