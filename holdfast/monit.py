"""Monit on every host: supervise the site's services, restart runaways, escalate restart loops.

Every host gets the host-wide checks (load, CPU, memory, swap, filesystems) and sshd and
cron; hosts with `services` and `sites` get one check per service, nginx, keepalived where
failover is on, and an end-to-end check of each site through nginx. Monit starts, stops and restarts services
through systemctl, so Monit and systemd never disagree. Alerts go to the escalation plan's
tiers by mail through `mail`; a restart loop alerts the escalation tier and Monit keeps
watching. Monit itself runs under a systemd unit that restarts it.
"""

import os
import re
import shlex
from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import StringCommand, deploy, operation
from pyinfra.facts.files import File
from pyinfra.operations import systemd

from holdfast import failover, in_place, loading, monitoring, php_fpm
from holdfast.inventory import WATCHED_GROUP, monitor_addresses
from holdfast.safe_config import ConfigFile, validated_config
from holdfast.settings import HostSettings, Site, Supervision
from holdfast.templates import render

# cron: supervised on every host, and missing from a minimal Debian; python3: the event
# script that sends Monit's events to the monitor hosts' Alertmanager.
PACKAGES = ("monit", "cron", "python3-minimal")
EVENT_SCRIPT = "/usr/local/sbin/holdfast-monit-event"
CONTROL_FILE = "/etc/monit/monitrc"
CHECKS_DIR = "/etc/monit/conf.d"
UNIT_FILE = "/etc/systemd/system/monit.service"
# Credentials of Monit's web interface (htpasswd form), made on the host, never sent anywhere.
HTTPD_USERS = "/etc/monit/holdfast-httpd.users"
HTTPD_USER = "holdfast"
NGINX_ADDRESS = "127.0.0.1:80"
NGINX_HTTPS_ADDRESS = "127.0.0.1:443"


@dataclass(frozen=True)
class Probe:
    """A connection test of a process check: plain, or with Monit speaking a protocol."""

    target: str  # Monit's words: "unixsocket /run/x.sock" or "host 127.0.0.1 port 80"
    cycles: int
    protocol: str | None = None
    path: str = "/"
    host_header: str = ""
    expect: str = ""  # a regular expression, already escaped for Monit


@dataclass(frozen=True)
class ProcessCheck:
    """A process Monit supervises: its check name, systemd unit, rules and probes."""

    name: str
    unit: str
    supervision: Supervision
    probes: tuple[Probe, ...] = ()


def monit_regex(text: str) -> str:
    """A POSIX extended regular expression matching ``text`` literally, quotable by Monit
    (which has no escape for '"': it becomes '.', any character)."""
    return re.sub(r'[\\.^$|?*+()\[\]{}]', r"\\\g<0>", text).replace('"', ".")


def timeouts_check_name(pool: str) -> str:
    """Monit's check of the requests PHP-FPM killed in ``pool`` (an alert, not a restart)."""
    return f"{pool}-timeouts"


def _target(address: str) -> str:
    """Monit's connection target for an upstream address ('unix:/path' or 'host:port')."""
    if address.startswith("unix:"):
        return f"unixsocket {address.removeprefix('unix:')}"
    address_host, _, port = address.rpartition(":")
    return f"host {address_host.strip('[]')} port {port}"


def _health_probes(name: str, rules: Supervision, sites: dict[str, Site]) -> tuple[Probe, ...]:
    """Probes of a service from the sites it serves: its listener, and each site's health page.

    Monit speaks HTTP but not FastCGI: a FastCGI backend's health page is asked through
    nginx (whose own check restarts it after one failed cycle, before this one acts)."""
    probes = {}
    for site in sites.values():
        if site.backend.service != name:
            continue
        health = {
            "protocol": "https" if site.tls and site.backend.kind == "fastcgi" else "http",
            "path": site.health_path,
            "host_header": site.server_names[0],
            "expect": monit_regex(site.health_expect),
        }
        listener = _target(site.backend.address)
        if site.backend.kind == "proxy":
            probes[Probe(listener, rules.health_cycles, **health)] = None
        else:
            probes[Probe(listener, rules.health_cycles)] = None
            nginx = NGINX_HTTPS_ADDRESS if site.tls else NGINX_ADDRESS  # port 80 redirects a site with tls
            probes[Probe(_target(nginx), rules.health_cycles, **health)] = None
    return tuple(probes)


def _daemon(name: str, unit: str, pidfile: str, *probes: Probe) -> ProcessCheck:
    """A system daemon: found by its pid file, no runaway or memory rule."""
    return ProcessCheck(name, unit, Supervision(pidfile=pidfile), probes)


def process_checks(host_settings: HostSettings) -> list[ProcessCheck]:
    """Every process Monit supervises on this host; a declared service replaces a system
    one of the same name."""
    ssh = Probe(f"host 127.0.0.1 port {host_settings.monit.ssh_port}", cycles=1, protocol="ssh")
    checks = {
        "sshd": _daemon("sshd", "ssh.service", "/run/sshd.pid", ssh),
        "cron": _daemon("cron", "cron.service", "/run/crond.pid"),
    }
    if host_settings.sites:
        # The pid file templates/nginx's nginx.conf names; one failed connection restarts it.
        checks["nginx"] = _daemon("nginx", "nginx.service", "/run/nginx.pid", Probe(_target(NGINX_ADDRESS), cycles=1))
    if failover.active(host_settings):
        checks["keepalived"] = _daemon("keepalived", failover.UNIT, failover.PIDFILE)
    for name, service in host_settings.services.items():
        rules = service.supervision
        own = (Probe(_target(rules.probe.address), rules.health_cycles, rules.probe.protocol),) if rules.probe else ()
        checks[name] = ProcessCheck(name, service.unit, rules, own + _health_probes(name, rules, host_settings.sites))
    return list(checks.values())


def filesystem_check_name(path: str) -> str:
    return "fs-" + (path.strip("/").replace("/", "-") or "root")


def event_script(host_settings: HostSettings, relays: list[str]) -> ConfigFile:
    """The script Monit restarts services through: it runs the restart, then sends the event
    to every monitor host's relay (``relays``, their URLs) as an alert for ``monit.alert_tier``."""
    alert = monitoring.ALERTS[monitoring.MONIT_EVENT_ALERT]
    return ConfigFile(EVENT_SCRIPT, render(
        f"monit{EVENT_SCRIPT}.j2", relays=relays, alertname=monitoring.MONIT_EVENT_ALERT,
        tier=host_settings.monit.alert_tier, severity=alert.severity, description=alert.description,
        runbook_url=f"{host_settings.monitoring.runbook_url}#{monitoring.runbook_anchor(monitoring.MONIT_EVENT_ALERT)}",
        lasts=EVENT_LASTS_CYCLES * host_settings.monit.cycle,
    ), mode="700")


# An event sent to Alertmanager ends by itself after this many Monit cycles.
EVENT_LASTS_CYCLES = 10


def config_files(host_settings: HostSettings, login: tuple[str, str] | None,
                 relays: list[str] = ()) -> list[ConfigFile]:
    """monitrc and the checks, all root-only (they may hold the relay password), and with
    ``relays`` (the monitor hosts' relay URLs) the script that sends Monit's events there."""
    monit, plan = host_settings.monit, host_settings.escalation
    alert_emails = plan.tier_emails(monit.alert_tier)
    # A local `alert` overrides the global one for that address: tier 1 members keep all alerts.
    escalation_emails = [e for e in plan.tier_emails(monit.escalation_tier) if e not in alert_emails]
    files = [
        ConfigFile(CONTROL_FILE, render(
            "monit/etc/monit/monitrc.j2",
            monit=monit, mail=host_settings.mail, login=login, alert_emails=alert_emails, httpd_users=HTTPD_USERS,
        ), mode="600"),
        ConfigFile(f"{CHECKS_DIR}/holdfast-system.conf", render(
            "monit/etc/monit/conf.d/system.conf.j2",
            system=monit.system, limits=monit.filesystems,
            filesystems={filesystem_check_name(path): path for path in monit.filesystems.paths},
        ), mode="600"),
    ]
    for check in process_checks(host_settings):
        files.append(ConfigFile(f"{CHECKS_DIR}/holdfast-{check.name}.conf", render(
            "monit/etc/monit/conf.d/process.conf.j2", check=check, escalation_emails=escalation_emails,
            event_script=EVENT_SCRIPT if relays else None,
        ), mode="600"))
    for name, service in php_fpm.pools(host_settings).items():
        files.append(ConfigFile(f"{CHECKS_DIR}/holdfast-{timeouts_check_name(name)}.conf", render(
            "monit/etc/monit/conf.d/php-fpm-timeouts.conf.j2", name=timeouts_check_name(name), pool=name,
            pool_regex=monit_regex(name), error_log=php_fpm.error_log(service), slowlog=php_fpm.slowlog(name, service),
        ), mode="600"))
    for name, site in host_settings.sites.items():
        files.append(ConfigFile(f"{CHECKS_DIR}/holdfast-site-{name}.conf", render(
            "monit/etc/monit/conf.d/site.conf.j2", name=name, site=site,
            rules=host_settings.services[site.backend.service].supervision,
            content_regex=monit_regex(site.content_expect), certificate_days=host_settings.monit.certificate_days,
        ), mode="600"))
    if relays:
        files.append(event_script(host_settings, list(relays)))
    return files


def relay_login(host_settings: HostSettings, environ=os.environ) -> tuple[str, str] | None:
    """The relay login from the environment, checked for what Monit can send with."""
    mail = host_settings.mail
    problems = mail.login_problems(environ)
    if mail.security == "tls":
        problems.append((("mail", "security"), mail.security, "Monit 5.33 cannot send over implicit TLS (port 465); "
                         "expected 'starttls' with the relay's submission port (587)"))
    if not problems and mail.username_env:
        problems = [
            (("mail", key), getattr(mail, key), "expected a value without '\"' in that variable: Monit cannot quote it")
            for key in ("username_env", "password_env")
            if '"' in environ[getattr(mail, key)]
        ]
    if problems:
        raise loading.refuse(*problems)
    return mail.credentials(environ)


@operation()
def generated_credentials(path: str, user: str):
    """
    Create an htpasswd-style file with a random password for ``user``, root-only, once.

    The password is made on the host and never leaves it: pyinfra neither sends nor
    reads it, so no output can show it. Delete the file to get a new one.

    + path: where the credentials live
    + user: the user name
    """
    if host.get_fact(File, path=path):
        host.noop(f"{path} exists")
        return
    yield StringCommand(
        f"umask 077 && printf '%s:%s\\n' {shlex.quote(user)} "
        f"\"$(tr -dc A-Za-z0-9 < /dev/urandom | head -c 32)\" > {shlex.quote(path)}"
    )


def event_relays(pyinfra_inventory, pyinfra_host) -> list[str]:
    """On a watched host, the URLs of the monitor hosts' relays its Monit events go to (the
    deploy and `make status` render Monit's files with them). Empty elsewhere."""
    if WATCHED_GROUP not in pyinfra_host.groups:
        return []
    return [f"http://{monitoring.url_address(address)}:{monitoring.MONIT_RELAY_PORT}/alerts"
            for addresses in monitor_addresses(pyinfra_inventory).values() for address in addresses]


@deploy("Monit")
def deploy_monit() -> None:
    """Install Monit under systemd, configure it from the settings (checked by `monit -t`
    before it goes live), reload it only when something changed."""
    host_settings = loading.current()
    login = relay_login(host_settings)
    relays = event_relays(host.inventory, host)
    # Without recommends: no local MTA (cron's), Monit mails through the relay.
    in_place.packages("Install Monit", list(PACKAGES))
    unit = validated_config(
        name="Monit's systemd unit",
        config="monit-unit",
        files=[ConfigFile(UNIT_FILE, render("monit/etc/systemd/system/monit.service.j2"))],
        validate=f"systemd-analyze verify {UNIT_FILE}",
        reload="systemctl daemon-reload",
    )
    credentials = generated_credentials(
        name="Monit web interface credentials (made on the host, root-only)", path=HTTPD_USERS, user=HTTPD_USER,
        _if=in_place.unless_in_place(modes={HTTPD_USERS: in_place.Mode("regular")}),
    )
    validated_config(
        name="Monit configuration",
        config="monit",
        files=config_files(host_settings, login, relays),
        validate="monit -t",
        reload="systemctl reload-or-restart monit",
        owned=[f"{CHECKS_DIR}/holdfast-*.conf", EVENT_SCRIPT],
    )
    in_place.service("Monit enabled and running", "monit")
    systemd.service(name="Monit restarted under its new unit", service="monit", restarted=True, _if=unit.did_change)
    systemd.service(name="Monit reads its new credentials", service="monit", reloaded=True,
                    _if=credentials.did_change)
