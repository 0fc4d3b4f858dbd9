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
import json
import os
import re
from dataclasses import dataclass, replace

from pyinfra import host, inventory
from pyinfra.api import StringCommand, deploy, operation
from pyinfra.facts.server import Command

from holdfast import channels, in_place, loading, settings
from holdfast.channels import matrix
from holdfast.inventory import WATCHED_GROUP, address_of, group_addresses
from holdfast.safe_config import UNIT_DIR, ConfigFile, validated_config, validated_timer
from holdfast.templates import render

# python3: the relay of Monit's events (MONIT_RELAY) and the Matrix bridge (MATRIX_BRIDGE).
MONITOR_PACKAGES = ("prometheus", "prometheus-blackbox-exporter", "prometheus-alertmanager", "python3-minimal")
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
COPY_STALE_TIMES = 3  # a copy of the primary's directories this many copy_every old is alerted on

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
# Monit's events reach Alertmanager (on loopback) through this relay on the monitor host,
# which takes them from the watched hosts' addresses only (holdfast-monit-relay.j2).
MONIT_RELAY = "holdfast-monit-relay"
MONIT_RELAY_PORT = 9095
# Alertmanager's notifications into a Matrix room (holdfast/channels/matrix.py).
MATRIX_BRIDGE = "holdfast-matrix-bridge"
MONIT_EVENT_ALERT = "MonitEvent"  # sent by Monit (templates/monit/usr/local/sbin/holdfast-monit-event.j2), no rule
WATCHDOG_ALERT = "Watchdog"  # always firing (holdfast-alerts.yml.j2)
WATCHDOG_RECEIVER = "watchdog heartbeat"  # has a space: cannot clash with a tier's name
# The first tier without its phone and sms (nobody is woken for a ticket); a space: no tier's name.
TICKETS_RECEIVER = "first tier, tickets"

# The flags each monitor-host service starts with (in /etc/default/<unit>; each binary
# is named like its unit). An empty --cluster.listen-address turns off Alertmanager's
# high-availability gossip.
SERVICE_FLAGS = {
    "prometheus": f"--web.listen-address={PROMETHEUS_ADDRESS}",
    "prometheus-blackbox-exporter": f"--config.file={BLACKBOX_CONFIG} --web.listen-address={BLACKBOX_ADDRESS}",
    "prometheus-alertmanager": f"--web.listen-address={ALERTMANAGER_ADDRESS} --cluster.listen-address=",
}


@dataclass(frozen=True)
class Alert:
    """One alert the monitor can send: its rule's severity and description, and its runbook section."""

    severity: settings.Severity
    description: str  # what it means
    first_steps: str


# Every alert the rules can send, by name. The rules carry severity, description and the
# runbook section's address; the runbook renders one section each; a unit test compares
# these with the rendered rules, so a new alert cannot miss the runbook.
ALERTS = {
    "SiteDown": Alert(
        "page", "a site gave no 2xx answer with its expected text to the external monitor, several probes in a row",
        "open the site from outside; on its web host `monit summary`, `systemctl status nginx`, "
        "`tail /var/log/nginx/error.log`; if nginx is fine, the app (under What runs where)"),
    "SiteBudgetBurnFast": Alert(
        "page", "a site fails so many probes that, at this rate, its error budget (the failures its "
        "`availability_objective` allows in 30 days) is gone within days: 14.4 times the allowed rate over the last "
        "hour and 5 minutes, or 6 times over the last 6 hours and 30 minutes; it catches partial failures (one "
        "probe in four) that SiteDown's probes in a row never see",
        "as SiteDown; a partial failure is often one worker, one backend or one web host out of several: "
        "nginx's error log for the failed requests, `monit summary` on each web host"),
    "SiteBudgetBurnSlow": Alert(
        "ticket", "a site's error budget is being spent faster than it lasts: 3 times the allowed rate over the "
        "last day and 2 hours, or above it over the last 3 days and 6 hours; nobody is woken for it",
        "in working hours: when did probes fail (Prometheus, `probe_success`), which requests failed "
        "(nginx's error log), and what changed then"),
    "SiteSlow": Alert(
        "page", "pages take longer than `monitoring.slow_response` to arrive",
        "on the web host: `systemd-cgtop` (is the app slice at its CPUQuota?), nginx's error log (limits, "
        "upstream timeouts); a surge is held at the edge, a slow app is not"),
    "CertificateExpiresSoon": Alert(
        "ticket", "a site's certificate, as the monitor receives it over HTTPS, expires within "
        "`monitoring.certificate_expiry`: renewal is failing (certbot renews 30 days before)",
        "on the web host `certbot renew --dry-run` and `journalctl -u certbot` (is port 80 reachable for the ACME "
        "challenge? the CA's rate limits?); then `certbot renew`, whose deploy hook runs `nginx -t` and reloads "
        "nginx; a tls.mode files certificate: install the new one and deploy"),
    "ServiceAddressDown": Alert(
        "page", "a site does not answer at its service address (failover): no web host holds it, or the one "
        "holding it fails", "`ip -br addr` on each web host (who holds it?), `journalctl -u keepalived`; then as "
        "for SiteDown on the holder"),
    "ServiceAddressMoved": Alert(
        "ticket", "a site's service address is answered by another web host than its primary: the primary "
        "failed, or is healthy again and waiting out failover.preempt_delay",
        "find why the primary gave it up (`journalctl -u keepalived` there: its track script failed, or it was "
        "down); it takes the address back by itself preempt_delay after it is healthy; to hand it back at once, "
        "`systemctl restart keepalived` on the holder"),
    "StandbyUnhealthy": Alert(
        "ticket", "a standby web host fails its own health check: it could not take over the site's service "
        "address if the primary failed", "as for SiteDown, on that standby: the site has no second host until "
        "it is fixed"),
    "DatabaseReplicaBroken": Alert(
        "ticket", "a replica of the site's database (failover.database) does not replicate the primary: its "
        "replication stopped on an error, cannot reach the primary, or was never set up; the standby would serve "
        "stale data if the service address moved there",
        "on that host `mariadb -e 'SHOW SLAVE STATUS\\G'` (Last_IO_Error, Last_SQL_Error); a network or login "
        "error heals by itself once the primary is reachable; a replica that must start again from a copy of the "
        "primary: `mariadb -e 'STOP SLAVE; RESET SLAVE ALL'` there, then deploy"),
    "DatabaseReplicaLagging": Alert(
        "ticket", "a replica of the site's database is further behind the primary than failover.database.lag_limit",
        "on that host `mariadb -e 'SHOW SLAVE STATUS\\G'` (Seconds_Behind_Master), `systemd-cgtop` (is the database "
        "slice at its limits?); on the primary, a long transaction or a bulk import"),
    "FilesCopyStale": Alert(
        "ticket", "a web host's copy of the primary's directories (failover.copied, e.g. the uploads) has not "
        "succeeded for three of its `copy_every`: the standby would serve the site without its newer files",
        "on that host `systemctl status holdfast-copy` and `journalctl -u holdfast-copy` (rsync's error: the "
        "primary unreachable, its `rsync.service` down, a directory missing there); `systemctl start "
        "holdfast-copy` copies at once"),
    "HostDown": Alert(
        "page", "the monitor cannot reach a web host's node_exporter: the host is down or cut off",
        "ping and ssh it; if unreachable, the hosting provider's console (tier 2 has the contractor); "
        "Healthchecks.io's heartbeat of the host says whether it is alive at all"),
    "MonitCheckFailing": Alert(
        "page", "Monit on a web host reports one of its checks not OK (the check and its state are in the subject)",
        "on that host `monit summary`, then `monit status <check>`; Monit mails its own alerts about it too"),
    "MonitSilent": Alert(
        "page", "Monit on a web host has exported nothing for several of its cycles: Monit (or the export) stopped",
        "on that host `systemctl status monit`, `tail /var/log/monit.log`; until it is back nothing restarts a "
        "failed service there"),
    MONIT_EVENT_ALERT: Alert(
        "ticket", "Monit on a web host restarted a service (it died, or failed its health check or its limits): "
        "the event Monit also mails, here so that chat hears of it and a silence covers it; it ends by itself",
        "on that host `monit status <check>`, `journalctl -u <unit>` for why it died; if it keeps coming back, "
        "Monit's restart limit escalates"),
    "Watchdog": Alert(
        "ticket", "always firing, by design: the external monitor calls its heartbeat with it",
        "nothing, while it keeps firing; when the heartbeat's provider says it stopped, the monitor host, "
        "Prometheus or Alertmanager is down: `systemctl status prometheus prometheus-alertmanager`"),
}


def extra_alerts(monitoring: settings.Monitoring) -> dict[str, Alert]:
    """The user's own rules (``monitoring.extra_rules``) as the runbook explains them."""
    return {rule.name: Alert(rule.severity, rule.description or rule.summary,
                             "(a rule of group_data: `monitoring.extra_rules`)")
            for rule in monitoring.extra_rules}


def runbook_anchor(name: str) -> str:
    """The anchor of an alert's runbook section (its heading is the alert's name)."""
    return name.lower()


@dataclass(frozen=True)
class WatchedHost:
    """A host of the ``web`` group as the monitor reaches it."""

    name: str
    address: str  # as it goes in a URL: a name, an IPv4 address or a bracketed IPv6 one
    sites: dict[str, settings.Site]
    monit_cycle: int  # how often its Monit state is exported
    failover: settings.Failover
    mysqld: bool = False  # it has a service with the `mysqld` exporter

    @property
    def node_exporter(self) -> str:
        return f"{self.address}:{NODE_EXPORTER_PORT}"

    @property
    def mysqld_exporter(self) -> str:
        return f"{self.address}:{MYSQLD_EXPORTER_PORT}"

    @property
    def copy_every(self) -> int | None:
        """How often it copies the primary's directories (failover.copied), when it does."""
        policy = self.failover
        if not (policy.enabled and self.sites and policy.copied and policy.peers):
            return None
        return policy.copy_every if policy.ranked[0] != self.name else None

    @property
    def replica_lag_limit(self) -> int | None:
        """How far behind its database may replicate the primary's (failover.database), when it is a replica."""
        policy = self.failover
        if not (self.mysqld and policy.enabled and self.sites and policy.database):
            return None
        return policy.database.lag_limit if policy.database.primary != self.name else None


@dataclass(frozen=True)
class Probe:
    """One site on one host, probed through that host's nginx."""

    host: str
    site: str
    url: str
    server_name: str
    expect: str  # a regular expression matching the site's content_expect literally
    served_by: str | None = None  # a regular expression the X-Served-By header must match

    @property
    def module(self) -> str:
        """Name of this probe's blackbox module (it carries the Host header and the body check)."""
        return f"{self.site}@{self.host}"


@dataclass(frozen=True)
class ServiceAddress:
    """A site's service address (failover), probed as visitors reach it, and again for the
    host that answers: its primary (the peer of highest priority) while nothing failed."""

    site: str
    address: str
    primary: str
    standbys: tuple[str, ...]
    serving: Probe  # the site answers at the address
    held: Probe  # ... and from its primary

    @property
    def probes(self) -> tuple[Probe, Probe]:
        return self.serving, self.held


def url_address(address: str) -> str:
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
            address=url_address(address_of(watched)),
            sites=all_settings[watched.name].sites,
            monit_cycle=all_settings[watched.name].monit.cycle,
            failover=all_settings[watched.name].failover,
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


def site_url(site: settings.Site, address: str) -> str:
    """The site's content page at ``address``: over HTTPS for a site with tls (port 80 only redirects)."""
    return f"{'https' if site.tls else 'http'}://{address}{site.content_path}"


def probes(watched: list[WatchedHost]) -> list[Probe]:
    """One probe per site per watched host."""
    return [
        Probe(
            host=host.name,
            site=name,
            url=site_url(site, host.address),
            server_name=site.server_names[0],
            expect=_literal_regex(site.content_expect),
        )
        for host in watched
        for name, site in host.sites.items()
    ]


def service_addresses(watched: list[WatchedHost]) -> list[ServiceAddress]:
    """Each site's service address, from the failover of the first web host that takes part."""
    for watched_host in watched:
        policy = watched_host.failover
        if not (policy.enabled and watched_host.sites):
            continue
        ranked = policy.ranked
        found = []
        for name, service in policy.sites.items():
            site = watched_host.sites[name]
            probe = Probe(host=f"address-{service.address}", site=name,
                          url=site_url(site, url_address(service.address)),
                          server_name=site.server_names[0], expect=_literal_regex(site.content_expect))
            primary = ranked[0]
            # nginx's $hostname: the primary's inventory name, or its first label.
            held = replace(probe, host=f"{probe.host}-on-{primary}",
                           served_by=f"^{_literal_regex(primary.split('.')[0])}(\\..*)?$")
            found.append(ServiceAddress(name, service.address, primary, tuple(ranked[1:]), probe, held))
        return found
    return []


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


def site_objectives(watched: list[WatchedHost]) -> dict[str, float]:
    """Each probed site's availability objective, as a fraction (99.9 % is 0.999).

    A site served by several web hosts has one objective (the first host's), each host's
    probes measured against it.
    """
    objectives = {}
    for watched_host in watched:
        for name, site in watched_host.sites.items():
            objectives.setdefault(name, site.availability_objective / 100)
    return objectives


def prometheus_files(host_settings: settings.HostSettings, watched: list[WatchedHost]) -> list[ConfigFile]:
    """prometheus.yml (targets) and the alert rules, escalated through the tiers."""
    monitoring, addresses = host_settings.monitoring, service_addresses(watched)
    return [
        ConfigFile(PROMETHEUS_CONFIG, render(
            "monitoring/etc/prometheus/prometheus.yml.j2",
            monitoring=monitoring, probes=probes(watched), watched=watched, rules_file=RULES_FILE,
            addresses=addresses,
            standbys={(address.site, standby) for address in addresses for standby in address.standbys},
            mysqld=[each for each in watched if each.mysqld],
            alertmanager=ALERTMANAGER_ADDRESS, blackbox=BLACKBOX_ADDRESS,
        )),
        ConfigFile(RULES_FILE, render(
            "monitoring/etc/prometheus/holdfast-alerts.yml.j2",
            monitoring=monitoring, tiers=host_settings.escalation.tiers,
            alerts=ALERTS | extra_alerts(monitoring), anchor=runbook_anchor,
            objectives=site_objectives(watched),
            monit_export_file=MONIT_EXPORT_FILE.rsplit("/", 1)[1],
            monit_silent_after=MONIT_SILENT_CYCLES * max((each.monit_cycle for each in watched), default=0),
            replica_lag=min((lag for each in watched if (lag := each.replica_lag_limit)), default=None),
            copy_stale=COPY_STALE_TIMES * max((every for each in watched if (every := each.copy_every)), default=0),
        )),
    ]


def blackbox_files(host_settings: settings.HostSettings, watched: list[WatchedHost]) -> list[ConfigFile]:
    """blackbox.yml: one module per probe (of a site on a host, or of a service address)."""
    every = probes(watched) + [probe for address in service_addresses(watched) for probe in address.probes]
    return [ConfigFile(BLACKBOX_CONFIG, render(
        "monitoring/etc/prometheus/blackbox.yml.j2", probes=every, monitoring=host_settings.monitoring,
    ))]


def alertmanager_files(host_settings: settings.HostSettings, environ=os.environ) -> list[ConfigFile]:
    """alertmanager.yml (routes and receivers), the relay's password file if it wants one,
    and the chat, phone and sms providers' secret files (holdfast/channels/).

    All are readable by root and the service only: the password, the providers' secrets,
    and the watchdog URL are secrets.
    """
    username, password = smtp_credentials(host_settings.mail, environ) or (None, None)
    escalation = host_settings.escalation
    emails = tier_emails(escalation)
    delivered = channels.receivers(escalation, host_settings.monitoring.send_resolved, CONFIG_DIR, environ)
    first = escalation.tiers[0].name
    others = {tier: {key: json.dumps(entries, ensure_ascii=False) for key, entries in entries_by_key.items()}
              for tier, entries_by_key in [*delivered.entries.items(),
                                           (TICKETS_RECEIVER, delivered.without_urgent(escalation, first))]}
    readable_by_service = {"mode": "640", "group": SERVICE_USER}
    files = [ConfigFile(ALERTMANAGER_CONFIG, render(
        "monitoring/etc/prometheus/alertmanager.yml.j2",
        monitoring=host_settings.monitoring, mail=host_settings.mail, tier_emails=emails,
        receivers={**emails, TICKETS_RECEIVER: emails[first]}, others=others, tickets=TICKETS_RECEIVER,
        title=channels.TITLE, text=channels.ALERT_LINES,
        username=username, password_file=SMTP_PASSWORD_FILE if password else None,
        watchdog_receiver=WATCHDOG_RECEIVER,
    ), **readable_by_service)]
    secrets = ({SMTP_PASSWORD_FILE: password} if password else {}) | delivered.secrets
    files += [ConfigFile(path, content, **readable_by_service) for path, content in secrets.items()]
    return files


def script_service_files(name: str, unit: dict | None = None, **variables) -> list[ConfigFile]:
    """A Python script of the monitor host (/usr/local/sbin/``name``, its template filled
    with ``variables``) and its service (its template filled with ``unit``)."""
    script = f"/usr/local/sbin/{name}"
    return [
        ConfigFile(script, render(f"monitoring{script}.j2", **variables), mode="755"),
        ConfigFile(f"{UNIT_DIR}/{name}.service",
                   render(f"monitoring/etc/systemd/system/{name}.service.j2", script=script, **(unit or {}))),
    ]


def monit_relay_files(pyinfra_inventory) -> list[ConfigFile]:
    """The relay of Monit's events (a Python script) and its service; it takes events from
    the watched hosts' addresses only, each labelled with its sender's name."""
    senders = {address: name for name, addresses in group_addresses(pyinfra_inventory, WATCHED_GROUP).items()
               for address in addresses}
    return script_service_files(MONIT_RELAY, senders=senders, alertmanager=ALERTMANAGER_ADDRESS,
                                listen="0.0.0.0", port=MONIT_RELAY_PORT)


def matrix_bridge_files(escalation: settings.Escalation) -> list[ConfigFile]:
    """The Matrix bridge (a Python script, holdfast/channels/matrix.py) and its service, run
    as Alertmanager's user, which reads the channels' homeserver, room and token files;
    none while no channel goes to Matrix."""
    targets = {channel: channels.secret_path(CONFIG_DIR, channel, matrix.SECRET_KIND)
               for channel, provider in escalation.providers.items() if provider.provider == "matrix"}
    return script_service_files(MATRIX_BRIDGE, {"user": SERVICE_USER}, targets=targets,
                                port=matrix.BRIDGE_PORT) if targets else []


def _script_service(title: str, config: str, name: str, files: list[ConfigFile]) -> None:
    """``files`` (``script_service_files``) live once systemd and Python accept them; the
    service restarted on a change, enabled and running."""
    validated_config(
        name=title,
        config=config,
        files=files,
        validate=f"systemd-analyze verify {UNIT_DIR}/{name}.service && "
                 f"python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' /usr/local/sbin/{name}",
        reload=f"systemctl daemon-reload && systemctl restart {name}",
    )
    in_place.service(f"{title}: running", name)


@deploy("External monitor")
def deploy_monitor_host() -> None:
    """Prometheus, the blackbox exporter and Alertmanager, watching every ``web`` host of
    the inventory; every configuration checked by the service's own tool before it goes live."""
    host_settings = loading.current()
    watched = watched_hosts(inventory)
    alertmanager = alertmanager_files(host_settings)  # checks the environment before any operation
    in_place.packages("Install Prometheus, the blackbox exporter and Alertmanager", list(MONITOR_PACKAGES))
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
        owned=[f"{CONFIG_DIR}/alertmanager-*"],  # the password and the providers' secrets
    )
    validated_config(
        name="Prometheus targets and alert rules",
        config="prometheus",
        files=prometheus_files(host_settings, watched),
        validate=f"promtool check config {PROMETHEUS_CONFIG}",
        reload="systemctl reload-or-restart prometheus",
    )
    for unit in SERVICE_FLAGS:
        in_place.service(f"{unit} enabled and running", unit)
    _script_service("Relay of Monit's events into Alertmanager", "monit-relay", MONIT_RELAY,
                    monit_relay_files(inventory))
    bridge = matrix_bridge_files(host_settings.escalation)
    if bridge:
        _script_service("Matrix bridge of Alertmanager's notifications", "matrix-bridge", MATRIX_BRIDGE, bridge)


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
    in_place.packages("Install node_exporter", list(WATCHED_PACKAGES))
    in_place.service("node_exporter enabled and running", "prometheus-node-exporter")
    validated_timer(name="Monit's view for Prometheus, every Monit cycle", config="monit-export", unit=MONIT_EXPORT,
                    files=monit_export_files(host_settings), running_name="Monit export timer running")
    if has_mysqld(host_settings):
        deploy_mysqld_exporter()


# Whether the exporter's user logs in with its login file.
EXPORTER_LOGS_IN = (f"mysql --defaults-extra-file={MYSQLD_EXPORTER_LOGIN} -e 'SELECT 1' >/dev/null 2>&1 "
                    "&& echo ready || echo missing")


@operation()
def mysqld_exporter_login():
    """
    The exporter's database user, with a random password made on the host, in a my.cnf
    only root and the exporter's user read; nothing while the exporter can log in with it.

    pyinfra neither sends nor reads the password: it is made, and given to MariaDB, there.
    """
    if host.get_fact(Command, EXPORTER_LOGS_IN) == "ready":
        host.noop(f"{MYSQLD_EXPORTER_USER} logs in with {MYSQLD_EXPORTER_LOGIN}")
        return
    yield StringCommand(render(
        "monitoring/mysqld-exporter-login.sh.j2", login=MYSQLD_EXPORTER_LOGIN, user=MYSQLD_EXPORTER_USER,
        socket=MYSQLD_SOCKET, unit=MYSQLD_EXPORTER,
    ))


def mysqld_exporter_files() -> list[ConfigFile]:
    """mysqld_exporter's flags: it logs in with its own login file."""
    return [ConfigFile(f"/etc/default/{MYSQLD_EXPORTER}", render(
        "monitoring/etc/default/service.j2", flags=f"--config.my-cnf={MYSQLD_EXPORTER_LOGIN}",
    ))]


@deploy("mysqld_exporter")
def deploy_mysqld_exporter() -> None:
    """Debian's prometheus-mysqld-exporter, logging in as its own database user, for the
    monitor to scrape (mysql_up and the server's figures)."""
    in_place.packages("Install mysqld_exporter", [MYSQLD_EXPORTER])
    mysqld_exporter_login(name="mysqld_exporter's database user (password made on the host)",
                          _if=in_place.unless_in_place(facts=[(Command, {"command": EXPORTER_LOGS_IN}, "ready")]))
    validated_config(
        name="mysqld_exporter's flags",
        config="mysqld-exporter",
        files=mysqld_exporter_files(),
        validate=f". /etc/default/{MYSQLD_EXPORTER} && {MYSQLD_EXPORTER} $ARGS --version",
        # The package starts it before it has a login: it fails until the start limit stops it.
        reload=f"systemctl reset-failed {MYSQLD_EXPORTER}; systemctl restart {MYSQLD_EXPORTER}",
    )
    in_place.service("mysqld_exporter enabled and running", MYSQLD_EXPORTER)
