"""A service address per site that moves: keepalived (VRRP over unicast) on the web hosts.

Each site of ``failover.sites`` gets a service address, held by the healthy web host of
highest priority. A track script (nginx running, the site's health path answering through
it on the host) gives the address up after ``fall`` failed checks; a host that dies stops
advertising and the next one takes over within about three advert intervals. Preemption is
delayed (``preempt_delay``), not disabled: the primary takes its address back once, after it
has been healthy that long, rather than at once (a flap while it recovers) or never (the
site left on the standby with nobody deciding). The configuration is checked by
``keepalived -t`` before it goes live, the last good one kept (holdfast.safe_config).
"""

import ipaddress
import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import systemd

from holdfast import in_place, loading, settings
from holdfast.safe_config import ConfigFile, validated_config
from holdfast.templates import render

PACKAGES = ("keepalived",)
CONFIG_FILE = "/etc/keepalived/keepalived.conf"
CHECK_SCRIPT = "/usr/local/lib/holdfast/failover-check"
UNIT = "keepalived.service"
PIDFILE = "/run/keepalived.pid"


def active(host_settings: settings.HostSettings) -> bool:
    """Whether this host takes part: failover on, and sites to serve."""
    return host_settings.failover.enabled and bool(host_settings.sites)


def _local_url(site: settings.Site) -> str:
    """The site's health page on this host's nginx: over HTTPS for a site with tls (its port
    80 only redirects)."""
    return f"{'https' if site.tls else 'http'}://127.0.0.1{site.health_path}"


def config_files(host_name: str, host_settings: settings.HostSettings) -> list[ConfigFile]:
    """keepalived.conf for ``host_name`` (a key of failover.peers) and its track script."""
    failover = host_settings.failover
    own = failover.peers[host_name]
    sites = [
        {"name": name, "address": service.address, "router_id": service.router_id,
         "health_path": host_settings.sites[name].health_path}
        for name, service in failover.sites.items()
    ]
    checks = [
        {"name": name,
         "host_header": shlex.quote(f"Host: {host_settings.sites[name].server_names[0]}"),
         "url": shlex.quote(_local_url(host_settings.sites[name])),
         "expect": shlex.quote(host_settings.sites[name].health_expect)}
        for name in failover.sites
    ]
    return [
        ConfigFile(CONFIG_FILE, render(
            "failover/etc/keepalived/keepalived.conf.j2",
            failover=failover, router_id=host_name, priority=own.priority, own_address=own.address,
            peers=[peer.address for name, peer in failover.peers.items() if name != host_name],
            prefix=ipaddress.ip_network(failover.network).prefixlen, sites=sites, check_script=CHECK_SCRIPT,
        ), mode="600"),
        ConfigFile(CHECK_SCRIPT, render(
            "failover/usr/local/lib/holdfast/failover-check.j2", sites=checks, timeout=failover.check_timeout,
        ), mode="755"),
    ]


@deploy("Failover")
def deploy_failover() -> None:
    """Install keepalived and hold the sites' service addresses with the other web hosts; a
    configuration keepalived rejects never goes live. With failover off, a keepalived left
    from before is stopped (the firewall no longer lets VRRP in: it would hold the address
    on its own)."""
    host_settings = loading.current()
    if not active(host_settings):
        systemd.service(name="keepalived stopped (failover off)", service=UNIT, running=False, enabled=False)
        return
    in_place.packages("Install keepalived", list(PACKAGES))
    validated_config(
        name="keepalived configuration",
        config="failover",
        files=config_files(host.name, host_settings),
        validate=f"keepalived -t -f {CONFIG_FILE}",
        reload=f"systemctl reload-or-restart {UNIT}",
    )
    in_place.service("keepalived enabled and running", UNIT)
