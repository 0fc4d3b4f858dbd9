"""The external monitor: Prometheus, its blackbox exporter and Alertmanager on the
monitor hosts, node_exporter on the watched (``web``) hosts, all from Debian packages.

The monitor watches from outside, so an alert still goes out when a web host is too sick
to send one. Its targets are derived from the inventory at deploy time: every site of
every ``web`` host is probed through nginx as a visitor reaches it (the host's address,
the site's Host header, a 2xx answer containing the site's ``content_expect``), and every
``web`` host's node_exporter is scraped. A host added to or removed from the inventory is
registered or unregistered by the next deploy.

Alerts go out by email along the escalation plan; how a tier is alerted only while an
alert stays unresolved is explained in templates/monitoring/etc/prometheus/holdfast-alerts.yml.j2.
Everything the monitor host serves listens on loopback only (use an SSH tunnel to look).
"""

import ipaddress
import os
import re
from dataclasses import dataclass

from pyinfra import host, inventory
from pyinfra.api import StringCommand, deploy, operation
from pyinfra.facts.server import Command
from pyinfra.operations import apt, systemd

from holdfast import loading, settings
from holdfast.inventory import WATCHED_GROUP, address_of
from holdfast.safe_config import UNIT_DIR, ConfigFile, validated_config, validated_timer
from holdfast.templates import render

MONITOR_PACKAGES = ("prometheus", "prometheus-blackbox-exporter", "prometheus-alertmanager")
WATCHED_PACKAGES = ("prometheus-node-exporter",)
MYSQLD_EXPORTER = "prometheus-mysqld-exporter"  # package, unit and binary, on hosts with a `mysqld` exporter
PACKAGES = MONITOR_PACKAGES + WATCHED_PACKAGES + (MYSQLD_EXPORTER,)

NODE_EXPORTER_PORT = 9100
MYSQLD_EXPORTER_PORT = 9104
# The exporter's own database user, its password made on the host (in a my.cnf that only
# root and the exporter's user read), never sent anywhere.
MYSQLD_EXPORTER_USER = "holdfast_exporter"
MYSQLD_EXPORTER_LOGIN = "/etc/prometheus/mysqld-exporter.cnf"
MYSQLD_SOCKET = "/run/mysqld/mysqld.sock"
# node_exporter's textfile collector reads *.prom here (Debian's default directory).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
MONIT_EXPORT = "holdfast-monit-export"
MONIT_EXPORT_FILE = f"{TEXTFILE_DIR}/holdfast_monit.prom"

CONFIG_DIR = "/etc/prometheus"
PROMETHEUS_CONFIG = f"{CONFIG_DIR}/prometheus.yml"
RULES_FILE = f"{CONFIG_DIR}/holdfast-alerts.yml"
BLACKBOX_CONFIG = f"{CONFIG_DIR}/blackbox.yml"
ALERTMANAGER_CONFIG = f"{CONFIG_DIR}/alertmanager.yml"
SMTP_PASSWORD_FILE = f"{CONFIG_DIR}/alertmanager-smtp-password"
SERVICE_USER = "prometheus"

PROMETHEUS_ADDRESS = "127.0.0.1:9090"
ALERTMANAGER_ADDRESS = "127.0.0.1:9093"
BLACKBOX_ADDRESS = "127.0.0.1:9115"
# Monit's exported view older than this many of its cycles: Monit (or the export) stopped.
MONIT_SILENT_CYCLES = 4
WATCHDOG_ALERT = "Watchdog"  # always firing (holdfast-alerts.yml.j2)
WATCHDOG_RECEIVER = "watchdog heartbeat"  # has a space: cannot clash with a tier's name

# The flags each monitor-host service starts with (in /etc/default/<unit>; each binary
# is named like its unit). An empty --cluster.listen-address turns off Alertmanager's
# high-availability gossip.
SERVICE_FLAGS = {
    "prometheus": f"--web.listen-address={PROMETHEUS_ADDRESS}",
    "prometheus-blackbox-exporter": f"--config.file={BLACKBOX_CONFIG} --web.listen-address={BLACKBOX_ADDRESS}",
    "prometheus-alertmanager": f"--web.listen-address={ALERTMANAGER_ADDRESS} --cluster.listen-address=",
}


@dataclass(frozen=True)
class WatchedHost:
    """A host of the ``web`` group as the monitor reaches it."""

    name: str
    address: str  # as it goes in a URL: a name, an IPv4 address or a bracketed IPv6 one
    sites: dict[str, settings.Site]
    monit_cycle: int  # how often its Monit state is exported
    mysqld: bool = False  # it has a service with the `mysqld` exporter

    @property
    def node_exporter(self) -> str:
        return f"{self.address}:{NODE_EXPORTER_PORT}"

    @property
    def mysqld_exporter(self) -> str:
        return f"{self.address}:{MYSQLD_EXPORTER_PORT}"


@dataclass(frozen=True)
class Probe:
    """One site on one host, probed through that host's nginx."""

    host: str
    site: str
    url: str
    server_name: str
    expect: str  # a regular expression matching the site's content_expect literally

    @property
    def module(self) -> str:
        """Name of this probe's blackbox module (it carries the Host header and the body check)."""
        return f"{self.site}@{self.host}"


def _url_address(address: str) -> str:
    try:
        return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:
        return address


def watched_hosts(pyinfra_inventory) -> list[WatchedHost]:
    """Every ``web`` host of the inventory: its ``ssh_hostname`` (or name) and its sites."""
    all_settings = loading.load(pyinfra_inventory)
    return [
        WatchedHost(
            name=watched.name,
            address=_url_address(address_of(watched)),
            sites=all_settings[watched.name].sites,
            monit_cycle=all_settings[watched.name].monit.cycle,
            mysqld=has_mysqld(all_settings[watched.name]),
        )
        for watched in pyinfra_inventory.get_group(WATCHED_GROUP, [])
    ]


def has_mysqld(host_settings: settings.HostSettings) -> bool:
    """Whether one of the host's services has the `mysqld` exporter."""
    return any(service.exporter == "mysqld" for service in host_settings.services.values())


def _literal_regex(text: str) -> str:
    """A Go (RE2) regular expression matching ``text`` literally: punctuation escaped."""
    return re.sub(r"([^\w\s])", r"\\\1", text)


def probes(watched: list[WatchedHost]) -> list[Probe]:
    """One probe per site per watched host."""
    return [
        Probe(
            host=host.name,
            site=name,
            url=f"http://{host.address}{site.content_path}",
            server_name=site.server_names[0],
            expect=_literal_regex(site.content_expect),
        )
        for host in watched
        for name, site in host.sites.items()
    ]


def smtp_credentials(mail: settings.Mail, environ=os.environ) -> tuple[str, str] | None:
    """The relay login (``Mail.credentials``), for a TLS setting Alertmanager can honour.

    Raises SettingsError (before any operation runs) for a variable that is not set, or
    for implicit TLS on another port than 465.
    """
    problems = mail.login_problems(environ)
    if mail.security == "tls" and mail.port != 465:
        problems.append((("mail", "port"), mail.port, "expected 465: Alertmanager speaks implicit TLS only there"))
    if problems:
        raise loading.refuse(*problems)
    return mail.credentials(environ)


def tier_emails(escalation: settings.Escalation) -> dict[str, list[str]]:
    """The email addresses of each tier, by tier name.

    Raises SettingsError for a tier that cannot be reached by email: the external monitor
    has no other channel, and a tier it cannot reach must not look covered.
    """
    for index, tier in enumerate(escalation.tiers):
        if "email" not in tier.channels:
            raise loading.refuse((("escalation", "tiers", index, "channels"), tier.channels,
                                  "expected 'email' among them: the external monitor alerts by email"))
    return {tier.name: escalation.tier_emails(tier.name) for tier in escalation.tiers}


def prometheus_files(host_settings: settings.HostSettings, watched: list[WatchedHost]) -> list[ConfigFile]:
    """prometheus.yml (targets) and the alert rules, escalated through the tiers."""
    monitoring = host_settings.monitoring
    return [
        ConfigFile(PROMETHEUS_CONFIG, render(
            "monitoring/etc/prometheus/prometheus.yml.j2",
            monitoring=monitoring, probes=probes(watched), watched=watched, rules_file=RULES_FILE,
            mysqld=[each for each in watched if each.mysqld],
            alertmanager=ALERTMANAGER_ADDRESS, blackbox=BLACKBOX_ADDRESS,
        )),
        ConfigFile(RULES_FILE, render(
            "monitoring/etc/prometheus/holdfast-alerts.yml.j2",
            monitoring=monitoring, tiers=host_settings.escalation.tiers,
            monit_export_file=MONIT_EXPORT_FILE.rsplit("/", 1)[1],
            monit_silent_after=MONIT_SILENT_CYCLES * max((each.monit_cycle for each in watched), default=0),
        )),
    ]


def blackbox_files(host_settings: settings.HostSettings, watched: list[WatchedHost]) -> list[ConfigFile]:
    """blackbox.yml: one module per probe."""
    return [ConfigFile(BLACKBOX_CONFIG, render(
        "monitoring/etc/prometheus/blackbox.yml.j2", probes=probes(watched), monitoring=host_settings.monitoring,
    ))]


def alertmanager_files(host_settings: settings.HostSettings, environ=os.environ) -> list[ConfigFile]:
    """alertmanager.yml (routes and receivers) and, if the relay wants one, the password file.

    Both are readable by root and the service only: the password, and the watchdog URL,
    are secrets.
    """
    username, password = smtp_credentials(host_settings.mail, environ) or (None, None)
    readable_by_service = {"mode": "640", "group": SERVICE_USER}
    files = [ConfigFile(ALERTMANAGER_CONFIG, render(
        "monitoring/etc/prometheus/alertmanager.yml.j2",
        monitoring=host_settings.monitoring, mail=host_settings.mail, tier_emails=tier_emails(host_settings.escalation),
        username=username, password_file=SMTP_PASSWORD_FILE if password else None,
        watchdog_receiver=WATCHDOG_RECEIVER,
    ), **readable_by_service)]
    if password:
        files.append(ConfigFile(SMTP_PASSWORD_FILE, password, **readable_by_service))
    return files


@deploy("External monitor")
def deploy_monitor_host() -> None:
    """Prometheus, the blackbox exporter and Alertmanager, watching every ``web`` host of
    the inventory; every configuration checked by the service's own tool before it goes live."""
    host_settings = loading.current()
    watched = watched_hosts(inventory)
    alertmanager = alertmanager_files(host_settings)  # checks the environment before any operation
    apt.packages(name="Install Prometheus, the blackbox exporter and Alertmanager",
                 packages=list(MONITOR_PACKAGES), no_recommends=True)
    for unit, flags in SERVICE_FLAGS.items():
        validated_config(
            name=f"{unit} flags (loopback only)",
            config=f"{unit}-flags",
            files=[ConfigFile(f"/etc/default/{unit}", render("monitoring/etc/default/service.j2", flags=flags))],
            validate=f". /etc/default/{unit} && {unit} $ARGS --version",
            reload=f"systemctl restart {unit}",  # flags are read at start only
        )
    validated_config(
        name="Blackbox probes of every site",
        config="blackbox",
        files=blackbox_files(host_settings, watched),
        validate=f"prometheus-blackbox-exporter --config.check --config.file={BLACKBOX_CONFIG}",
        reload="systemctl reload-or-restart prometheus-blackbox-exporter",
    )
    validated_config(
        name="Alertmanager routes along the escalation plan",
        config="alertmanager",
        files=alertmanager,
        validate=f"amtool check-config {ALERTMANAGER_CONFIG}",
        reload="systemctl reload-or-restart prometheus-alertmanager",
        owned=[SMTP_PASSWORD_FILE],
    )
    validated_config(
        name="Prometheus targets and alert rules",
        config="prometheus",
        files=prometheus_files(host_settings, watched),
        validate=f"promtool check config {PROMETHEUS_CONFIG}",
        reload="systemctl reload-or-restart prometheus",
    )
    for unit in SERVICE_FLAGS:
        systemd.service(name=f"{unit} enabled and running", service=unit, running=True, enabled=True)


def monit_export_files(host_settings: settings.HostSettings) -> list[ConfigFile]:
    """The script that writes Monit's view for node_exporter, and its timer (every Monit cycle)."""
    script = f"/usr/local/sbin/{MONIT_EXPORT}"
    return [
        ConfigFile(script, render(f"monitoring{script}.j2", textfile=MONIT_EXPORT_FILE), mode="755"),
        ConfigFile(f"{UNIT_DIR}/{MONIT_EXPORT}.service",
                   render(f"monitoring/etc/systemd/system/{MONIT_EXPORT}.service.j2", script=script)),
        ConfigFile(f"{UNIT_DIR}/{MONIT_EXPORT}.timer",
                   render(f"monitoring/etc/systemd/system/{MONIT_EXPORT}.timer.j2", every=host_settings.monit.cycle)),
    ]


@deploy("node_exporter")
def deploy_node_exporter() -> None:
    """node_exporter on a watched host: the monitor's sign that the host is alive, with
    Monit's view of the host exported through its textfile collector."""
    host_settings = loading.current()
    apt.packages(name="Install node_exporter", packages=list(WATCHED_PACKAGES), no_recommends=True)
    systemd.service(
        name="node_exporter enabled and running", service="prometheus-node-exporter", running=True, enabled=True
    )
    validated_timer(name="Monit's view for Prometheus, every Monit cycle", config="monit-export", unit=MONIT_EXPORT,
                    files=monit_export_files(host_settings), running_name="Monit export timer running")
    if has_mysqld(host_settings):
        deploy_mysqld_exporter()


@operation()
def mysqld_exporter_login():
    """
    The exporter's database user, with a random password made on the host, in a my.cnf
    only root and the exporter's user read; nothing while the exporter can log in with it.

    pyinfra neither sends nor reads the password: it is made, and given to MariaDB, there.
    """
    login = f"mysql --defaults-extra-file={MYSQLD_EXPORTER_LOGIN} -e 'SELECT 1'"
    if host.get_fact(Command, f"{login} >/dev/null 2>&1 && echo ready || echo missing") == "ready":
        host.noop(f"{MYSQLD_EXPORTER_USER} logs in with {MYSQLD_EXPORTER_LOGIN}")
        return
    yield StringCommand(render(
        "monitoring/mysqld-exporter-login.sh.j2", login=MYSQLD_EXPORTER_LOGIN, user=MYSQLD_EXPORTER_USER,
        socket=MYSQLD_SOCKET, unit=MYSQLD_EXPORTER,
    ))


@deploy("mysqld_exporter")
def deploy_mysqld_exporter() -> None:
    """Debian's prometheus-mysqld-exporter, logging in as its own database user, for the
    monitor to scrape (mysql_up and the server's figures)."""
    apt.packages(name="Install mysqld_exporter", packages=[MYSQLD_EXPORTER], no_recommends=True)
    mysqld_exporter_login(name="mysqld_exporter's database user (password made on the host)")
    validated_config(
        name="mysqld_exporter's flags",
        config="mysqld-exporter",
        files=[ConfigFile(f"/etc/default/{MYSQLD_EXPORTER}", render(
            "monitoring/etc/default/service.j2", flags=f"--config.my-cnf={MYSQLD_EXPORTER_LOGIN}",
        ))],
        validate=f". /etc/default/{MYSQLD_EXPORTER} && {MYSQLD_EXPORTER} $ARGS --version",
        # The package starts it before it has a login: it fails until the start limit stops it.
        reload=f"systemctl reset-failed {MYSQLD_EXPORTER}; systemctl restart {MYSQLD_EXPORTER}",
    )
    systemd.service(name="mysqld_exporter enabled and running", service=MYSQLD_EXPORTER, running=True, enabled=True)
