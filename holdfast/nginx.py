"""nginx at the edge: every site of group_data served through nginx to its backend, with
per-client rate and connection limits that allow-listed sources never meet, timeouts that
keep a looping or hung backend from pinning the edge, and a page of nginx's own (or a
stale cached answer) while the backend fails. Sites with ``tls`` are served over HTTPS
(certificates from an ACME CA through certbot, or files already on the host), and a host's
own nginx configuration is never dropped silently."""

import fnmatch
import ipaddress
import math
import re
import shlex
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import server, systemd

from holdfast import in_place, loading, planning, replication, settings
from holdfast.facts import Certificate, MatchingFiles, NginxTakeover, UnchangedConffiles
from holdfast.inventory import WATCHED_GROUP, address_of, monitor_addresses
from holdfast.safe_config import UNIT_DIR, ConfigFile, validated_config
from holdfast.templates import render

# certbot: for sites with tls.mode acme only.
ACME_PACKAGES = ("certbot",)
PACKAGES = ("nginx", *ACME_PACKAGES)
CONFIG_DIR = "/etc/nginx/holdfast"
SITES_DIR = f"{CONFIG_DIR}/sites"
PAGES_DIR = f"{CONFIG_DIR}/pages"
CACHE_DIR = "/var/cache/nginx/holdfast"
CACHE_MOUNT = "var-cache-nginx-holdfast.mount"  # systemd's name of a mount at CACHE_DIR
ERROR_LOG = "/var/log/nginx/error.log"  # where the edge logs what it refuses (edge.log_level)
LOOPBACK = ("127.0.0.0/8", "::1/128")
# Where nginx serves its own pages inside every site (internal locations only).
PAGES_URI = "/.holdfast"
# certbot's webroot: it writes each HTTP-01 token under it, nginx serves them from there.
ACME_WEBROOT = "/var/www/holdfast-acme"
ACME_CHALLENGE_URI = "/.well-known/acme-challenge/"
LETSENCRYPT_LIVE = "/etc/letsencrypt/live"
DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/holdfast-nginx"
# The page of a write on a host whose database is a replica, and when to try again (seconds).
READ_ONLY_TITLE = "Read-only for a while"
READ_ONLY_MESSAGE = ("The site runs on its standby server while the main one is repaired: every page can be read, "
                     "but logging in, commenting and changes wait until it is back. Please try again later.")
READ_ONLY_RETRY = 300
# Files of a running nginx that Holdfast's nginx.conf includes too (or that only other
# files include): never counted as dropped.
INCLUDED_BY_HOLDFAST = (
    "/etc/nginx/nginx.conf", f"{CONFIG_DIR}/*", "/etc/nginx/mime.types", "/etc/nginx/fastcgi_params",
    "/etc/nginx/modules-enabled/*", "/usr/share/nginx/modules-available/*", "/etc/nginx/snippets/*",
)


@dataclass(frozen=True)
class CertificatePaths:
    """Where nginx reads a site's certificate chain and its private key."""

    chain: str
    key: str


def certificate_paths(name: str, tls: settings.Tls) -> CertificatePaths:
    """A site's certificate files: its own (mode files) or certbot's live ones (mode acme)."""
    if tls.mode == "files":
        return CertificatePaths(tls.certificate, tls.key)
    return CertificatePaths(f"{LETSENCRYPT_LIVE}/{name}/fullchain.pem", f"{LETSENCRYPT_LIVE}/{name}/privkey.pem")


def covers(names: Iterable[str], server_name: str) -> bool:
    """Whether a certificate for ``names`` (DNS names, maybe '*.' wildcards) covers ``server_name``."""
    wanted = server_name.lower()
    for name in map(str.lower, names):
        if name == wanted or (name.startswith("*.") and wanted.partition(".")[2] == name[2:]):
            return True
    return False


def certificate_problems(name: str, site: settings.Site, found: dict, now: datetime) -> list[settings.Problem]:
    """What is wrong with a mode-files site's certificate as found on the host (the
    ``Certificate`` fact): missing files, a key of another certificate, an expired one, a
    server name it does not cover."""
    tls, loc = site.tls, ("sites", name, "tls")
    problems = [((*loc, key), getattr(tls, key), "expected an existing file on the host")
                for key in ("certificate", "key") if not found.get(key)]
    if problems:
        return problems
    if not found.get("certificate_key"):
        return [((*loc, "certificate"), tls.certificate, "expected a PEM certificate (openssl cannot read it)")]
    if found["certificate_key"] != found.get("key_key"):
        return [((*loc, "key"), tls.key, f"expected the private key of {tls.certificate} (it belongs to another)")]
    if found["not_after"] <= now:
        problems.append(((*loc, "certificate"), tls.certificate,
                         f"expected a certificate still valid (it expired {found['not_after']:%Y-%m-%d %H:%M} UTC)"))
    problems += [
        (("sites", name, "server_names", index), server_name,
         f"expected a name {tls.certificate} covers ({', '.join(found['names']) or 'no DNS names'})")
        for index, server_name in enumerate(site.server_names)
        if not covers(found["names"], server_name)
    ]
    return problems


def dropped_files(live: dict, pristine: Collection[str], keep: Sequence[str]) -> dict[str, list[str]]:
    """Files of a running nginx (the ``NginxTakeover`` fact) that Holdfast's nginx.conf would
    no longer include, with the server names each declares: neither Holdfast's, nor one of
    Debian's untouched configuration files (``pristine``, the links to them too), nor kept by
    edge.keep. nginx.conf itself only if it declares servers (Holdfast replaces it)."""
    dropped = {}
    for path, found in live.items():
        if path == "/etc/nginx/nginx.conf":
            if found["names"]:
                dropped[path] = found["names"]
        elif found["real"] not in pristine and not any(
            fnmatch.fnmatch(path, glob) for glob in (*INCLUDED_BY_HOLDFAST, *keep)
        ):
            dropped[path] = found["names"]
    return dropped


def keep_problems(keep: Sequence[str], matched: dict[str, bool]) -> list[settings.Problem]:
    """edge.keep globs that match no file on the host (``matched``: glob -> whether one does)."""
    return [(("edge", "keep", index), glob, "expected a glob matching files on the host (it matches none)")
            for index, glob in enumerate(keep) if not matched[glob]]


def acme_peers(inventory, host_name: str) -> list[str]:
    """Addresses of the other web hosts of the inventory: an ACME challenge for a name they
    share may reach any of them."""
    return [address_of(peer) for peer in inventory.get_group(WATCHED_GROUP, []) if peer.name != host_name]


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


def _site_files(name: str, site: settings.Site, zone_size: str, peers: Sequence[str],
                certificate: CertificatePaths | None, read_only: bool) -> Iterable[ConfigFile]:
    pages = f"{PAGES_DIR}/{name}"
    yield ConfigFile(
        f"{SITES_DIR}/{name}.conf",
        render(
            "nginx/etc/nginx/holdfast/sites/site.conf.j2",
            name=name, site=site, zone_size=zone_size, strict_pattern=strict_pattern(site.limits.strict_paths),
            allow_listed_pattern=strict_pattern(site.limits.allow_listed_paths),
            ignored_arg_pattern=site.stale_cache and ignored_arg_pattern(site.stale_cache.ignored_args),
            private_cookie_pattern=site.stale_cache and private_cookie_pattern(site.stale_cache.private_cookies or ()),
            pages=pages, pages_uri=PAGES_URI, cache_dir=CACHE_DIR, certificate=certificate,
            acme_webroot=ACME_WEBROOT, acme_challenge_uri=ACME_CHALLENGE_URI, acme_peers=peers,
            read_only=read_only, read_only_retry=READ_ONLY_RETRY,
        ),
    )
    page = "nginx/etc/nginx/holdfast/pages/site/page.html.j2"
    yield ConfigFile(f"{pages}/unavailable.html", render(page, site=site, title=site.fallback.title,
                                                         message=site.fallback.message))
    yield ConfigFile(f"{pages}/too-many-requests.html", render(
        page, site=site, title="Too many requests", message="Please wait a moment, then try again.",
    ))
    if read_only:
        yield ConfigFile(f"{pages}/read-only.html", render(page, site=site, title=READ_ONLY_TITLE,
                                                           message=READ_ONLY_MESSAGE))


def cache_mount(host_settings: settings.HostSettings) -> ConfigFile:
    """The systemd mount unit of the sites' caches: a tmpfs of ``cache_memory`` at CACHE_DIR."""
    size_kib = math.ceil(host_settings.cache_memory / 1024)
    return ConfigFile(f"{UNIT_DIR}/{CACHE_MOUNT}",
                      render("nginx/etc/systemd/system/CACHE.mount.j2", path=CACHE_DIR, size_kib=size_kib))


def caches(host_settings: settings.HostSettings) -> bool:
    """Whether a site of the host has a cache (in the tmpfs of ``cache_mount``)."""
    return any(site.stale_cache for site in host_settings.sites.values())


def _uses_acme(host_settings: settings.HostSettings) -> dict[str, settings.Site]:
    return {name: site for name, site in host_settings.sites.items() if site.tls and site.tls.mode == "acme"}


def config_files(host_settings: settings.HostSettings, monitors: dict[str, list[str]], peers: Sequence[str] = (),
                 uncertified: Collection[str] = (), read_only: bool = False) -> list[ConfigFile]:
    """nginx.conf, the edge-wide settings, and per site its server file and error pages.

    + monitors: addresses of the monitors hosts, by name (see ``holdfast.inventory.monitor_addresses``)
    + peers: addresses of the other web hosts, asked for ACME challenges this one lacks (``acme_peers``)
    + uncertified: sites with tls whose certificate is not on the host yet: HTTP only, until certbot got it
    + read_only: the host's database is a read-only replica (``holdfast.replication.is_replica``): what
      would write gets the read-only page
    """
    edge = host_settings.edge
    peers = list(peers) if _uses_acme(host_settings) else []
    return [
        ConfigFile("/etc/nginx/nginx.conf", render(
            "nginx/etc/nginx/nginx.conf.j2", config_dir=CONFIG_DIR, keep=edge.keep, error_log=ERROR_LOG,
            log_level=edge.log_level,
        )),
        ConfigFile(f"{CONFIG_DIR}/edge.conf", render(
            "nginx/etc/nginx/holdfast/edge.conf.j2", edge=edge, allow_list=allow_list(edge, monitors),
            acme_peers=peers,
        )),
        *(
            file
            for name, site in host_settings.sites.items()
            for file in _site_files(
                name, site, edge.zone_size, peers,
                certificate_paths(name, site.tls) if site.tls and name not in uncertified else None, read_only,
            )
        ),
    ]


TAKEOVER, STOCK_FILES = (NginxTakeover, {}), (UnchangedConffiles, {"package": "nginx-common"})
CACHE_MOUNTED = (SystemdStatus, {"user_mode": False, "machine": None, "user_name": None, "services": [CACHE_MOUNT]})


def _certificate(site: settings.Site) -> planning.Query:
    return Certificate, {"certificate": site.tls.certificate, "key": site.tls.key}


def _found(globs: Iterable[str]) -> planning.Query:
    return MatchingFiles, {"patterns": list(globs)}


def _chains(acme_sites: dict[str, settings.Site]) -> planning.Query:
    return _found(certificate_paths(name, site.tls).chain for name, site in acme_sites.items())


def reads(host_settings: settings.HostSettings) -> list[planning.Query]:
    """What nginx reads to plan (planning.read_together): the certificates group_data names,
    the files to keep, the running nginx and its stock files, the ACME certificates obtained,
    whether the caches are mounted."""
    if not host_settings.sites:
        return []
    return [*(_certificate(site) for site in host_settings.sites.values() if site.tls and site.tls.mode == "files"),
            *(_found([glob]) for glob in host_settings.edge.keep), TAKEOVER, STOCK_FILES,
            *([_chains(_uses_acme(host_settings))] if _uses_acme(host_settings) else []),
            *([CACHE_MOUNTED] if caches(host_settings) else [])]


def _host_problems(host_settings: settings.HostSettings) -> list[settings.Problem]:
    """What the host itself says against group_data: a mode-files certificate that is
    missing, not its key's, expired or not covering the site; a keep-glob matching nothing;
    files of a running nginx that Holdfast would drop."""
    problems = []
    now = datetime.now(UTC)
    for name, site in host_settings.sites.items():
        if site.tls and site.tls.mode == "files":
            found = planning.fact(_certificate(site))
            problems += certificate_problems(name, site, found, now)
    keep = host_settings.edge.keep
    problems += keep_problems(keep, {glob: bool(planning.fact(_found([glob]))) for glob in keep})
    live = planning.fact(TAKEOVER)
    dropped = dropped_files(live, planning.fact(STOCK_FILES), keep) if live else {}
    if dropped:
        listed = "; ".join(f"{path} ({' '.join(names) or 'no server_name'})" for path, names in dropped.items())
        problems.append((("edge", "keep"), list(keep),
                         f"expected globs including every file of the running nginx that Holdfast's nginx.conf "
                         f"would drop: {listed} (or remove them from the host first)"))
    return problems


def certbot_command(name: str, site: settings.Site, acme: settings.Acme) -> str:
    """certbot's command obtaining a site's certificate through the webroot; it remembers how,
    and its timer renews it the same way."""
    names = " ".join(f"-d {shlex.quote(server_name)}" for server_name in site.server_names)
    return (
        f"certbot certonly --non-interactive --agree-tos --no-eff-email --email {shlex.quote(acme.email)} "
        f"--server {shlex.quote(acme.directory_url)} --webroot --webroot-path {ACME_WEBROOT} "
        f"--cert-name {name} {names}"
    )


@deploy("nginx")
def deploy_nginx() -> None:
    """Install nginx and serve every site behind its limits; a rejected configuration never goes live."""
    from pyinfra import inventory

    host_settings = loading.current()
    problems = _host_problems(host_settings)
    if problems:
        raise loading.refuse(*problems)
    acme_sites = _uses_acme(host_settings)
    in_place.packages("Install nginx", ["nginx", *(ACME_PACKAGES if acme_sites else ())])
    if caches(host_settings):
        _caches_in_memory(host_settings)
    in_place.directory("ACME webroot", ACME_WEBROOT, mode="755", user="root", group="root")
    monitors, peers = monitor_addresses(inventory), acme_peers(inventory, host.name)
    read_only = replication.is_replica(host.name, host_settings)
    live = planning.fact(_chains(acme_sites)) if acme_sites else []
    uncertified = [name for name, site in acme_sites.items() if certificate_paths(name, site.tls).chain not in live]
    served = config_files(host_settings, monitors, peers, read_only=read_only)
    if acme_sites:
        # Before any web host asks the CA: the CA asks the host holding the site's address, which
        # asks its peers for a token it lacks; its list of them must name a web host just added.
        # A site without its certificate yet is served on port 80 only, for its challenge.
        early = config_files(host_settings, monitors, peers, uncertified, read_only) if uncertified else served
        _validated_nginx("nginx configuration, before certbot asks the ACME CA", early)
    if uncertified:
        systemd.service(name="nginx running for the ACME challenge", service="nginx", running=True)
        for name in uncertified:
            server.shell(name=f"Certificate of {name} from the ACME CA",
                         commands=[certbot_command(name, acme_sites[name], host_settings.acme)])
    if acme_sites:
        in_place.put("certbot's renewals reload nginx once nginx -t accepts them",
                     render("nginx/etc/letsencrypt/renewal-hooks/deploy/holdfast-nginx.j2"), DEPLOY_HOOK, mode="755")
        in_place.service("certbot's renewal timer", "certbot.timer")
    _validated_nginx("nginx configuration", served)
    in_place.service("nginx enabled and running", "nginx")


def _caches_in_memory(host_settings: settings.HostSettings) -> None:
    """The tmpfs of the caches mounted, and resized in place when their sizes change. The
    first time it hides nothing: the cache files nginx kept on disk are removed, and nginx
    reloaded, which makes its cache directories in the tmpfs."""
    mounted = planning.fact(CACHE_MOUNTED).get(CACHE_MOUNT)
    if not mounted:
        server.shell(name="Cache files nginx kept on disk removed",
                     commands=[f"if [ -d {CACHE_DIR} ] && ! mountpoint -q {CACHE_DIR}; then "
                               f"find {CACHE_DIR} -mindepth 1 -delete; fi"])
    unit = cache_mount(host_settings)
    validated_config(
        name="Mount of nginx's caches, in memory",
        config="nginx-cache",
        files=[unit],
        validate=f"systemd-analyze verify --man=no {unit.path}",
        reload=f"systemctl daemon-reload && systemctl reload-or-restart {CACHE_MOUNT}",
    )
    in_place.service("nginx's caches mounted", CACHE_MOUNT)
    if not mounted:
        server.shell(name="nginx makes its cache directories in memory",
                     commands=["systemctl try-reload-or-restart nginx"])


def _validated_nginx(name: str, wanted: list[ConfigFile]) -> None:
    validated_config(
        name=name,
        config="nginx",
        files=wanted,
        validate="nginx -t -q",
        reload="systemctl reload-or-restart nginx",
        owned=[f"{SITES_DIR}/*.conf", f"{PAGES_DIR}/*/*.html"],
    )
