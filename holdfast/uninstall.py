"""The way back: Holdfast's footprint removed from a host and what was there before put back.

Everything Holdfast writes goes through ``holdfast-apply-config``, which keeps, the first time,
what each file replaced (or that it was not there) and lists each configuration's files; its
first deploy also notes the packages the host had. Uninstalling reads that record
(``HoldfastFootprint``): each configuration's originals go back through the same validated swap
(the service's own checker first, Monit's first of all so that it stops acting), the units
Holdfast made are stopped, its table leaves the firewall, the packages it installed are purged,
and its hosted monitors of the host are deleted by the reconcile's own tag rule.
"""

import shlex

from pyinfra import host, inventory, logger, state
from pyinfra.api import StringCommand, deploy
from pyinfra.facts.files import File, FileContents
from pyinfra.operations import files, server

from holdfast import (
    bans,
    base,
    copies,
    failover,
    firewall,
    hosted_monitors,
    loading,
    maintenance,
    monit,
    monitoring,
    nginx,
    replication,
    slices,
)
from holdfast.facts import HoldfastFootprint
from holdfast.safe_config import APPLY_COMMAND, ORIGINALS, STATE_DIR
from holdfast.templates import render

# Packages Holdfast installs; those a host did not have before its first deploy are purged.
PACKAGES = frozenset(bans.PACKAGES + base.PACKAGES + copies.PACKAGES + failover.PACKAGES + firewall.PACKAGES
                     + monit.PACKAGES + monitoring.PACKAGES + nginx.PACKAGES)
FIRST = ("monit", "monit-unit")  # Monit first: it would restart or report what the others stop
LAST = ("firewall", "firewall-unit")
# What replaces a swap's recorded reload when uninstalling.
RELOADS = {
    "monit-unit": "systemctl daemon-reload && systemctl try-restart monit",  # back under the package's unit
    # Debian 12's own sshd jail, without the journal Holdfast's jail file gave it, keeps
    # fail2ban from starting on a host without a syslog daemon: stopped then (and purged
    # after, if Holdfast installed it).
    "bans": f"systemctl try-reload-or-restart {bans.UNIT} || systemctl stop {bans.UNIT}",
    "firewall": f"nft delete table {firewall.TABLE} 2>/dev/null || true",
    "nginx-cache": "systemctl daemon-reload",  # the mount is stopped (lazily) with Holdfast's units
    "copies": f"systemctl stop {copies.DAEMON}; systemctl daemon-reload",
    "replication": replication.UNDO,
}


def order(configs: list[str]) -> list[str]:
    """``configs`` in the order they are put back: Monit's first, the firewall's last."""
    return sorted(configs, key=lambda config: (config not in FIRST, config in LAST, config))


def uninstall_reload(config: str, config_files: list[str]) -> str | None:
    """The command run once ``config``'s originals are back (None: its last swap's reload):
    the slices' restarts the units that leave them."""
    if config == "slices":
        return slices.reload_command([], config_files)
    return RELOADS.get(config)


def stop_order(units: list[str]) -> list[str]:
    """``units`` with the triggers (timers, paths, sockets) first: a timer firing while its
    service stops starts it again, and systemd cancels the stop ("Job ... canceled")."""
    return sorted(units, key=lambda unit: not unit.endswith((".timer", ".path", ".socket")))


@deploy("Holdfast uninstalled")
def deploy_uninstall() -> None:
    """Put back what each configuration replaced, stop Holdfast's units, purge its packages,
    delete the host's hosted monitors."""
    if host.get_fact(File, path=maintenance.END_SCRIPT):
        server.shell(name="End the open maintenance window (its timer is Holdfast's)",
                     commands=[maintenance.end_script()])
    footprint = host.get_fact(HoldfastFootprint, original=ORIGINALS)
    configs = order(footprint.configs)
    if not configs:
        host.noop("Holdfast recorded nothing on this host")
    for config in [config for config in configs if config in FIRST]:
        _put_back(config)
    for unit in stop_order(footprint.units):
        server.shell(name=f"Stop and disable {unit} (Holdfast's)", commands=[f"systemctl disable --now {unit}"])
    for config in [config for config in configs if config not in FIRST]:
        _put_back(config)
    for link in footprint.links:
        files.link(name=f"Remove {link} (to Holdfast's unit, gone)", path=link, present=False)
    if host.get_fact(File, path=monitoring.MYSQLD_EXPORTER_LOGIN):
        _drop_mysqld_exporter_login()
    purged = sorted(PACKAGES & set(footprint.new_packages))
    if configs and not footprint.packages_known:
        logger.warning(f"{host.name}: no record of the packages found before Holdfast: none is purged")
    elif purged:
        script = render("uninstall/holdfast-purge.j2")
        server.shell(name=f"Purge the packages Holdfast installed: {', '.join(purged)}", commands=[StringCommand(
            "bash", "-c", shlex.quote(script), "holdfast-purge", *purged, "--",
            *map(shlex.quote, footprint.new_packages))])
    if configs:
        server.shell(name="systemd forgets Holdfast's units", commands=["systemctl daemon-reload"])
    files.file(name="Remove the validate-then-swap helper", path=APPLY_COMMAND, present=False)
    files.directory(name="Remove Holdfast's state (its record of the originals)", path=STATE_DIR, present=False)
    if host == hosted_monitors.carrier():
        fleet = loading.load(inventory)
        hosted_monitors.reconcile({name: each for name, each in fleet.items()
                                   if not state.is_host_in_limit(inventory.get_host(name))},
                                  hosted_monitors.hosted_settings(fleet))


def _drop_mysqld_exporter_login() -> None:
    """The database user mysqld_exporter logged in as, and its login file: made on the host
    by Holdfast (no configuration of its own records them)."""
    user, login = monitoring.MYSQLD_EXPORTER_USER, monitoring.MYSQLD_EXPORTER_LOGIN
    server.shell(name=f"Drop mysqld_exporter's database user {user} and its login", commands=[
        f"mysql -e \"DROP USER IF EXISTS '{user}'@'localhost'\"", f"rm -f {login}",
    ])


def _put_back(config: str) -> None:
    config_files = host.get_fact(FileContents, path=f"{ORIGINALS}/{config}.files") or []
    reload = uninstall_reload(config, config_files)
    server.shell(name=f"Put {config}'s originals back", commands=[
        " ".join([APPLY_COMMAND, "--uninstall", config, *([shlex.quote(reload)] if reload else [])])
    ])
