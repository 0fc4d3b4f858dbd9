"""nginx at the edge: every site of group_data served through nginx to its backend, with
per-client rate and connection limits that allow-listed sources never meet, timeouts that
keep a looping or hung backend from pinning the edge, and a page of nginx's own (or a
stale cached answer) while the backend fails."""

import ipaddress
import re
from collections.abc import Iterable

from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd

from holdfast import loading, settings
from holdfast.inventory import monitor_addresses
from holdfast.safe_config import ConfigFile, validated_config
from holdfast.templates import render

PACKAGES = ("nginx",)
CONFIG_DIR = "/etc/nginx/holdfast"
SITES_DIR = f"{CONFIG_DIR}/sites"
PAGES_DIR = f"{CONFIG_DIR}/pages"
CACHE_DIR = "/var/cache/nginx/holdfast"
LOOPBACK = ("127.0.0.0/8", "::1/128")
# Where nginx serves its own pages inside every site (internal locations only).
PAGES_URI = "/.holdfast"


def allow_list(edge: settings.Edge, monitors: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(network, why) of every source that is never limited, each network once."""
    listed = {network: "loopback" for network in LOOPBACK}
    for name, addresses in monitors.items():
        for address in addresses:
            listed.setdefault(str(ipaddress.ip_network(address)), f"monitors host {name}")
    for network in edge.allow:
        listed.setdefault(network, "edge.allow")
    return list(listed.items())


def strict_pattern(paths: Iterable[str]) -> str:
    """The location regex of some paths (the strict class's, the allow-listed ones): each
    path, and everything under it."""
    return "^(" + "|".join(map(re.escape, paths)) + ")(/|$)"


def ignored_arg_pattern(patterns: Iterable[str]) -> str:
    """A regex of a query (``$args``) with one of ``patterns`` (a name, or a prefix ending in
    '*') in it: group 1 is what comes before that argument, group 2 what comes after."""
    names = "|".join(re.escape(p[:-1]) + "[^&=]*" if p.endswith("*") else re.escape(p) for p in patterns)
    return f"^((?:[^&]*&)*?)(?:{names})(?:=[^&]*)?(?:&(.*))?$"


def private_cookie_pattern(prefixes: Iterable[str]) -> str:
    """A regex of a Cookie header with a cookie whose name starts with one of ``prefixes``."""
    return r"(^|;\s*)(" + "|".join(map(re.escape, prefixes)) + ")"


def _site_files(name: str, site: settings.Site, zone_size: str) -> Iterable[ConfigFile]:
    pages = f"{PAGES_DIR}/{name}"
    yield ConfigFile(
        f"{SITES_DIR}/{name}.conf",
        render(
            "nginx/etc/nginx/holdfast/sites/site.conf.j2",
            name=name, site=site, zone_size=zone_size, strict_pattern=strict_pattern(site.limits.strict_paths),
            allow_listed_pattern=strict_pattern(site.limits.allow_listed_paths),
            ignored_arg_pattern=site.stale_cache and ignored_arg_pattern(site.stale_cache.ignored_args),
            private_cookie_pattern=site.stale_cache and private_cookie_pattern(site.stale_cache.private_cookies or ()),
            pages=pages, pages_uri=PAGES_URI, cache_dir=CACHE_DIR,
        ),
    )
    page = "nginx/etc/nginx/holdfast/pages/site/page.html.j2"
    yield ConfigFile(f"{pages}/unavailable.html", render(page, site=site, title=site.fallback.title,
                                                         message=site.fallback.message))
    yield ConfigFile(f"{pages}/too-many-requests.html", render(
        page, site=site, title="Too many requests", message="Please wait a moment, then try again.",
    ))


def config_files(host_settings: settings.HostSettings, monitors: dict[str, list[str]]) -> list[ConfigFile]:
    """nginx.conf, the edge-wide settings, and per site its server file and error pages.

    + monitors: addresses of the monitors hosts, by name (see ``holdfast.inventory.monitor_addresses``)
    """
    edge = host_settings.edge
    return [
        ConfigFile("/etc/nginx/nginx.conf", render("nginx/etc/nginx/nginx.conf.j2", config_dir=CONFIG_DIR)),
        ConfigFile(f"{CONFIG_DIR}/edge.conf", render(
            "nginx/etc/nginx/holdfast/edge.conf.j2", edge=edge, allow_list=allow_list(edge, monitors),
        )),
        *(
            file
            for name, site in host_settings.sites.items()
            for file in _site_files(name, site, edge.zone_size)
        ),
    ]


@deploy("nginx")
def deploy_nginx() -> None:
    """Install nginx and serve every site behind its limits; a rejected configuration never goes live."""
    from pyinfra import inventory

    host_settings = loading.current()
    apt.packages(name="Install nginx", packages=list(PACKAGES))
    if any(site.stale_cache for site in host_settings.sites.values()):
        files.directory(name="nginx cache directory", path=CACHE_DIR, user="root", group="root", mode="755")
    validated_config(
        name="nginx configuration",
        config="nginx",
        files=config_files(host_settings, monitor_addresses(inventory)),
        validate="nginx -t -q",
        reload="systemctl reload-or-restart nginx",
        owned=[f"{SITES_DIR}/*.conf", f"{PAGES_DIR}/*/*.html"],
    )
    systemd.service(name="nginx enabled and running", service="nginx", running=True, enabled=True)
