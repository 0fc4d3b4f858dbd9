"""Repeat offenders of the sites' per-client limits, banned at the firewall (Debian's fail2ban).

A per-client limit answers 429 to one address at a time; an address that keeps asking past
it still costs nginx a TLS handshake and a log line per request. fail2ban's nginx-limit-req
filter reads what nginx refused (its error log, at ``edge.log_level``) and bans an address
refused ``edge.bans.refused`` times within ``edge.bans.within`` for ``edge.bans.ban``, in an
nftables set of its own table (``inet f2b-table``, beside Holdfast's: holdfast.firewall),
each next ban of it twice as long, every ban expiring on its own. Only the per-client zones
count: a crowd refused by the strict class's budget for all clients together is never
banned, nor are the sources never limited. The jail is checked by ``fail2ban-client -t``
before it goes live (holdfast.safe_config).
"""

from pyinfra.api import deploy

from holdfast import in_place, loading, nginx, settings
from holdfast.inventory import monitor_addresses
from holdfast.safe_config import ConfigFile, validated_config
from holdfast.templates import render

# python3-systemd: the sshd jail Debian enables reads the journal (the jail file says why).
PACKAGES = ("fail2ban", "python3-systemd")
JAIL = "holdfast-limits"
JAIL_FILE = "/etc/fail2ban/jail.d/holdfast.local"
UNIT = "fail2ban.service"


def active(host_settings: settings.HostSettings) -> bool:
    """Whether this host bans: sites with per-client limits, and bans on."""
    return host_settings.edge.bans.enabled and bool(host_settings.sites)


def limit_zones(host_settings: settings.HostSettings) -> list[str]:
    """The per-client limit zones of the host's sites (holdfast/nginx.py): their refusals count."""
    return [f"{name}_{limit_class}" for name in host_settings.sites for limit_class in ("default", "strict")]


def config_files(host_settings: settings.HostSettings, monitors: dict[str, list[str]]) -> list[ConfigFile]:
    """The jail (``monitors``: addresses of the monitors hosts, by name, never banned)."""
    edge = host_settings.edge
    return [ConfigFile(JAIL_FILE, render(
        "bans/etc/fail2ban/jail.d/holdfast.local.j2", jail=JAIL, bans=edge.bans, zones=limit_zones(host_settings),
        error_log=nginx.ERROR_LOG, ignored=[network for network, _ in nginx.allow_list(edge, monitors)],
    ))]


@deploy("Bans")
def deploy_bans() -> None:
    """Install fail2ban and its jail for the sites' limits; with bans off, the jail is removed
    (fail2ban and its other jails are left as they are)."""
    from pyinfra import inventory

    host_settings = loading.current()
    if not active(host_settings):
        validated_config(name="No ban jail (bans off)", config="bans", files=[], validate="true",
                         reload=f"systemctl try-reload-or-restart {UNIT}", owned=[JAIL_FILE])
        return
    in_place.packages("Install fail2ban", list(PACKAGES))
    validated_config(
        name="Ban jail for the sites' limits",
        config="bans",
        files=config_files(host_settings, monitor_addresses(inventory)),
        validate="fail2ban-client --test",
        reload=f"systemctl reload-or-restart {UNIT}",
    )
    in_place.service("fail2ban running", UNIT)
