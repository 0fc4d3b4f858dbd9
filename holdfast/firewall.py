"""The host firewall: only what must be reachable is, and a change cannot lock you out.

Holdfast's own nftables table, ``table inet holdfast`` (/etc/holdfast/firewall.nft, loaded
at boot by holdfast-firewall.service), drops and counts every inbound packet the policy
does not open: ssh always (from ``firewall.ssh_from``), 80 and 443 on hosts with sites,
the scrape ports from the inventory's monitors hosts only, and ``firewall.allow``. The file
replaces that table alone, in one transaction: fail2ban's table, Docker's, Debian's
/etc/nftables.conf are left as they are (never ``flush ruleset``).

A new ruleset is checked by ``nft -c`` in holdfast.safe_config's validated swap; the swap's
reload arms a transient systemd timer on the host, then loads it. The deploy then opens a
new SSH connection to the host (established connections survive any ruleset) and cancels
the timer through it; if it cannot within ``firewall.rollback_after``, the timer restores
the table that was live before, and the file the boot loads, as iptables-apply does.
"""

import hashlib
import ipaddress
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, deploy, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.exceptions import ConnectError

from holdfast import copies, failover, in_place, loading, replication, settings
from holdfast.facts import FirewallTable, TimerActive
from holdfast.inventory import MONITOR_GROUP, WATCHED_GROUP, group_addresses, monitor_addresses
from holdfast.monitoring import MONIT_RELAY_PORT, MYSQLD_EXPORTER_PORT, has_mysqld
from holdfast.safe_config import STATE_DIR, UNIT_DIR, ConfigFile, swap_config, validated_config
from holdfast.templates import render

PACKAGES = ("nftables", "netbase")  # netbase: /etc/protocols, which names the ruleset's protocols (vrrp)
TABLE = "inet holdfast"
RULESET = "/etc/holdfast/firewall.nft"
UNIT = "holdfast-firewall"
ROLLBACK_UNIT = "holdfast-firewall-rollback"
HELPER = "/usr/local/sbin/holdfast-firewall"
FIREWALL_STATE = f"{STATE_DIR}/firewall"
# IP protocols opened whole (no ports), by number: a minimal host may lack /etc/protocols.
IP_PROTOCOLS = {"vrrp": 112}
# Hosts named in a generated comment up to this length (with its words, within nft's 128).
NAMED_AT_MOST = 90


@dataclass(frozen=True)
class Opening:
    """Inbound traffic the policy lets in: ports of one protocol (or, without ports, a whole
    IP protocol of IP_PROTOCOLS), from some networks."""

    why: str
    protocol: str
    ports: tuple[int, ...]
    sources: tuple[str, ...]

    def matches(self) -> list[str]:
        """The nft match of each rule it takes: by address family, everywhere or a set."""
        networks = [ipaddress.ip_network(source) for source in self.sources]
        ports = str(self.ports[0]) if len(self.ports) == 1 else "{ " + ", ".join(map(str, self.ports)) + " }"
        dport = f"{self.protocol} dport {ports}" if self.ports else f"meta l4proto {IP_PROTOCOLS[self.protocol]}"
        by_family = {
            family: [network for network in networks if network.version == version]
            for family, version in (("ip", 4), ("ip6", 6))
        }
        if all(any(network.prefixlen == 0 for network in found) for found in by_family.values()):
            return [dport]
        rules = []
        for family, found in by_family.items():
            if any(network.prefixlen == 0 for network in found):
                rules.append(f"meta nfproto {'ipv4' if family == 'ip' else 'ipv6'} {dport}")
            elif found:
                rules.append(f"{family} saddr {{ {', '.join(map(str, found))} }} {dport}")
        return rules


def relay_senders(pyinfra_inventory, pyinfra_host) -> dict[str, list[str]]:
    """On a monitors host, the watched hosts' addresses, by name: they send Monit's events to
    its relay (holdfast/monitoring.py). Empty elsewhere."""
    if MONITOR_GROUP not in pyinfra_host.groups:
        return {}
    return group_addresses(pyinfra_inventory, WATCHED_GROUP, but=pyinfra_host.name)


def hosts_named(names: Iterable[str]) -> str:
    """Hosts by name for a rule's comment, or how many when their names would not fit (nft
    refuses a comment of more than 128 characters: 20 web hosts' names did not fit)."""
    names = list(names)
    listed = ", ".join(names)
    return listed if len(listed) <= NAMED_AT_MOST else f"{len(names)} hosts"


def openings(host_settings: settings.HostSettings, monitors: dict[str, list[str]],
             senders: dict[str, list[str]] | None = None) -> list[Opening]:
    """What the host lets in, ssh first (always there, whatever else the policy says).

    + monitors: addresses of the monitors hosts, by name (``holdfast.inventory.monitor_addresses``)
    + senders: addresses of the hosts whose Monit events the relay takes (``relay_senders``)
    """
    policy = host_settings.firewall
    opened = [Opening("ssh", "tcp", (host_settings.monit.ssh_port,), tuple(policy.ssh_from))]
    if host_settings.sites:
        opened.append(Opening("the sites", "tcp", settings.SITE_PORTS, tuple(settings.EVERYWHERE)))
    scrapers = tuple(address for addresses in monitors.values() for address in addresses)
    # mysqld_exporter's port, on a host that runs it (holdfast/monitoring.py), beside the policy's.
    exporters = [MYSQLD_EXPORTER_PORT] if has_mysqld(host_settings) else []
    scraped = tuple(dict.fromkeys([*policy.scrape_ports, *exporters]))
    if scraped and scrapers:
        opened.append(Opening(f"scraped by {hosts_named(monitors)}", "tcp", scraped, scrapers))
    if senders:
        opened.append(Opening(f"Monit's events from {hosts_named(senders)}", "tcp", (MONIT_RELAY_PORT,),
                              tuple(address for addresses in senders.values() for address in addresses)))
    opened += [Opening(rule.why, rule.protocol, (rule.port,), tuple(rule.sources)) for rule in policy.allow]
    if failover.active(host_settings):
        peers = tuple(peer.address for peer in host_settings.failover.peers.values())
        opened.append(Opening("VRRP between the web hosts (failover)", "vrrp", (), peers))
    if copies.active(host_settings):
        opened.append(Opening("rsync's copies between the web hosts", "tcp", (copies.PORT,), peers))
    if replication.active(host_settings):
        opened.append(Opening("MariaDB's replication between the web hosts", "tcp", (replication.PORT,), peers))
    return opened


def policy_digest(opened: Iterable[Opening]) -> str:
    """A short fingerprint of the policy, in the live table's comment (a changed or lost
    table is put back even when the file is current)."""
    return hashlib.sha1(json.dumps([vars(opening) for opening in opened]).encode()).hexdigest()[:12]


def table_comment(opened: list[Opening]) -> str:
    return f"managed by Holdfast, policy {policy_digest(opened)}"


def config_files(host_settings: settings.HostSettings, monitors: dict[str, list[str]],
                 senders: dict[str, list[str]] | None = None) -> list[ConfigFile]:
    """The ruleset of Holdfast's table (``monitors``, ``senders``: as for ``openings``)."""
    opened = openings(host_settings, monitors, senders)
    return [ConfigFile(RULESET, render(
        "firewall/etc/holdfast/firewall.nft.j2", table=TABLE, comment=table_comment(opened), openings=opened,
    ))]


def unit_files() -> list[ConfigFile]:
    """The unit that loads the ruleset at boot, and the helper that applies and rolls back."""
    return [
        ConfigFile(f"{UNIT_DIR}/{UNIT}.service", render(
            "firewall/etc/systemd/system/holdfast-firewall.service.j2", ruleset=RULESET,
        )),
        ConfigFile(HELPER, render(
            "firewall/usr/local/sbin/holdfast-firewall.j2",
            ruleset=RULESET, table=TABLE, state_dir=FIREWALL_STATE, rollback_unit=ROLLBACK_UNIT,
        ), mode="755"),
    ]


def _confirm(state, host, arguments: dict, window: int) -> bool:
    """Cancel the rollback over a new SSH connection, the proof that the deploy still
    reaches the host; False (the host rolls back by itself) when none gets through in time."""
    deadline, reason = time.monotonic() + window, "no attempt"
    while time.monotonic() < deadline:
        fresh = type(host.connector)(state, host)
        try:
            fresh.connect()
        except ConnectError as error:
            reason = str(error)
            continue
        try:
            confirmed, output = fresh.run_shell_command(StringCommand(HELPER, "confirm"), **arguments)
        finally:
            fresh.client.close()
        if confirmed:
            return True
        reason = output.stderr
        break
    host.log_styled(
        f"the firewall change cut this deploy's new SSH connections ({reason}): the host restores the previous "
        f"ruleset by itself within {window}s ({ROLLBACK_UNIT}.timer); fix firewall in group_data and deploy again",
        fg="red", log_func=logger.error,
    )
    return False


@operation()
def guarded_ruleset(ruleset: ConfigFile, comment: str, window: int):
    """
    Put a ruleset live only if ``nft -c`` accepts it, with a rollback the host runs by itself
    unless the deploy reaches it again over a new SSH connection within ``window`` seconds.

    + ruleset: the wanted ruleset file
    + comment: the comment of the wanted live table (a table without it is put back)
    + window: seconds before the host restores the previous table

    A rollback still pending (a deploy cut before it confirmed) is confirmed the same way.
    """
    apply = f"{HELPER} apply {window}"
    live_current = host.get_fact(FirewallTable, table=TABLE) == comment
    pending = host.get_fact(TimerActive, timer=f"{ROLLBACK_UNIT}.timer")
    swapped = list(swap_config._inner(
        config="firewall", files=[ruleset], validate=f"nft -c -f {ruleset.path}", reload=apply,
    ))
    if not swapped and live_current and not pending:
        return
    yield from swapped or ([] if live_current else [StringCommand(apply)])
    arguments = {key: value for key, value in host.current_op_global_arguments.items()
                 if key in CONNECTOR_ARGUMENT_KEYS}
    yield FunctionCommand(_confirm, (arguments, window), {})


@deploy("Host firewall")
def deploy_firewall() -> None:
    """Install nftables and Holdfast's table: checked, loaded under a rollback timer, loaded
    again at boot. The ssh port the deploy connects on is always open."""
    from pyinfra import inventory

    host_settings = loading.current()
    connected_on = host.data.get("ssh_port") or 22
    if connected_on != host_settings.monit.ssh_port:
        raise loading.refuse((("monit", "ssh_port"), host_settings.monit.ssh_port,
                              f"expected the port the deploy connects on (ssh_port {connected_on}): the firewall "
                              "keeps that port open"))
    in_place.packages("Install nftables", list(PACKAGES))
    in_place.directory("Firewall state directory", FIREWALL_STATE, mode="700")
    validated_config(
        name="Firewall unit and helper",
        config="firewall-unit",
        files=unit_files(),
        validate=f"systemd-analyze verify {UNIT_DIR}/{UNIT}.service && bash -n {HELPER}",
        reload="systemctl daemon-reload",
    )
    monitors = monitor_addresses(inventory, but=host.name)  # a monitors host does not scrape itself
    senders = relay_senders(inventory, host)
    [ruleset] = config_files(host_settings, monitors, senders)
    comment = table_comment(openings(host_settings, monitors, senders))
    guarded_ruleset(
        name=f"Firewall ruleset (table {TABLE})",
        ruleset=ruleset,
        comment=comment,
        window=host_settings.firewall.rollback_after,
        _if=in_place.unless_in_place(files={ruleset.path: ruleset.state}, facts=[
            (FirewallTable, {"table": TABLE}, comment), (TimerActive, {"timer": f"{ROLLBACK_UNIT}.timer"}, False)]),
    )
    in_place.service("Firewall loaded at boot", f"{UNIT}.service", running=None)
