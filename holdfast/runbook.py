"""The runbook, rendered from the same data the deploy reads: who to call in what order and
how, what runs where, how to check status, what each alert means and what to do first.

    .venv/bin/python -m holdfast.runbook [INVENTORY] > docs/RUNBOOK.md

The committed docs/RUNBOOK.md is the production inventory's; a unit test fails when it
differs from a fresh rendering, so the runbook cannot drift from the plan.
"""

import sys

from holdfast import firewall, maintenance, monit, monitoring, nginx, php_fpm, settings, slices
from holdfast.audit import Estate
from holdfast.inventory import MONITOR_GROUP, WATCHED_GROUP, read_inventory
from holdfast.providers import healthchecks
from holdfast.templates import render

DEFAULT_INVENTORY = "inventories/prod.py"


# Every alert the deploy can send, by name: (what it means, what to do first). A unit test
# compares them with the rendered Prometheus rules, so a new alert cannot miss the runbook.
PROMETHEUS_ALERTS = {
    "SiteDown": ("a site gave no 2xx answer with its expected text to the external monitor, several probes in a row",
                 "open the site from outside; on its web host `monit summary`, `systemctl status nginx`, "
                 "`tail /var/log/nginx/error.log`; if nginx is fine, the app (below)"),
    "SiteSlow": ("pages take longer than `monitoring.slow_response` to arrive",
                 "on the web host: `systemd-cgtop` (is the app slice at its CPUQuota?), nginx's error log (limits, "
                 "upstream timeouts); a surge is held at the edge, a slow app is not"),
    "CertificateExpiresSoon": ("a site's certificate, as the monitor receives it over HTTPS, expires within "
                               "`monitoring.certificate_expiry`: renewal is failing (certbot renews 30 days before)",
                               "on the web host `certbot renew --dry-run` and `journalctl -u certbot` (is port 80 "
                               "reachable for the ACME challenge? the CA's rate limits?); then `certbot renew`, whose "
                               "deploy hook runs `nginx -t` and reloads nginx; a tls.mode files certificate: install "
                               "the new one and deploy"),
    "HostDown": ("the monitor cannot reach a web host's node_exporter: the host is down or cut off",
                 "ping and ssh it; if unreachable, the hosting provider's console (tier 2 has the contractor); "
                 "Healthchecks.io's heartbeat of the host says whether it is alive at all"),
    "MonitCheckFailing": ("Monit on a web host reports one of its checks not OK (the check and its state are in "
                          "the subject)", "on that host `monit summary`, then `monit status <check>`; Monit "
                          "mails its own alerts about it too"),
    "MonitSilent": ("Monit on a web host has exported nothing for several of its cycles: Monit (or the export) "
                    "stopped", "on that host `systemctl status monit`, `tail /var/log/monit.log`; until it is back "
                    "nothing restarts a failed service there"),
    "ServiceAddressDown": ("a site does not answer at its service address (failover): no web host holds it, or "
                           "the one holding it fails", "`ip -br addr` on each web host (who holds it?), "
                           "`journalctl -u keepalived`; then as for SiteDown on the holder"),
    "ServiceAddressMoved": ("a site's service address is answered by another web host than its primary: the "
                            "primary failed, or is healthy again and waiting out failover.preempt_delay",
                            "find why the primary gave it up (`journalctl -u keepalived` there: its track script "
                            "failed, or it was down); it takes the address back by itself preempt_delay after it is "
                            "healthy; to hand it back at once, `systemctl restart keepalived` on the holder"),
    "StandbyUnhealthy": ("a standby web host fails its own health check: it could not take over the site's "
                         "service address if the primary failed", "as for SiteDown, on that standby: the site has "
                         "no second host until it is fixed"),
    "Watchdog": ("always firing, by design: the external monitor calls its heartbeat with it",
                 "nothing, while it keeps firing; when the heartbeat's provider says it stopped, the monitor host, "
                 "Prometheus or Alertmanager is down: `systemctl status prometheus prometheus-alertmanager`"),
}
MONIT_EVENTS = {
    "Does not exist": ("a supervised process died", "Monit restarts it within a cycle; if it keeps dying, "
                       "`journalctl -u <unit>` for the reason"),
    "Resource limit matched": ("a process or the host is over a CPU or memory limit (a runaway)",
                               "Monit restarts a runaway service after its cycles; look for the request that "
                               "looped (nginx access log around the time; the PHP stack of a long request "
                               "in its pool's slow log, under What runs where) and the bug behind it"),
    "Connection failed": ("a service or a site stopped answering its health check, or a site's certificate is "
                          "valid for fewer than `monit.certificate_days` days",
                          "Monit restarts it after its cycles; check the app's own log; for the certificate, as "
                          "CertificateExpiresSoon"),
    "Content failed": ("a site answered without its expected text", "open the page; the app is up but broken"),
    "Content match": ("PHP-FPM killed a request that ran past its request_terminate_timeout (check "
                      "`<pool>-timeouts`: a loop or a hang in the site's code); the service keeps serving",
                      "the mail quotes PHP-FPM's line (script and request); the PHP stack is in the pool's slow "
                      "log (under What runs where): hand it to whoever fixes the site's code"),
    "Timeout": ("a service keeps restarting (its restart limit within its window): Monit escalated to the next "
                "tier and keeps trying", "the service cannot stay up: `journalctl -u <unit>`, roll back the last "
                "change, call the next tier"),
    "Exists": ("recovered: the process runs again", "nothing; read what it was"),
    "Resource limit succeeded": ("recovered: back under its limits", "nothing"),
    "Connection succeeded": ("recovered: answering again", "nothing"),
}


def _hosts(estate: Estate) -> list[dict]:
    """What runs on each host of the inventory, as the runbook lists it."""
    rows = []
    for name, host_settings in estate.settings.items():
        groups = [group for group, members in estate.groups.items() if name in members and group != "all"]
        runs = ["Monit"]
        if WATCHED_GROUP in groups:
            runs += ["nginx (limits, fallback page)", "node_exporter"]
            runs += [f"{key} ({service.unit}, slice {service.slice or 'none'})"
                     for key, service in host_settings.services.items()]
        if MONITOR_GROUP in groups:
            runs += ["Prometheus", "blackbox exporter", "Alertmanager"]
        rows.append({"name": name, "groups": groups, "runs": runs, "sites": list(host_settings.sites)})
    return rows


def render_runbook(pyinfra_inventory) -> str:
    estate = Estate.of(pyinfra_inventory)
    first = next(iter(estate.settings.values()))
    web = next((estate.settings[name] for name in estate.group(WATCHED_GROUP)), first)
    monitor_hosts = estate.group(MONITOR_GROUP)
    return render(
        "escalation/RUNBOOK.md.j2",
        plan=first.escalation,
        mail=first.mail,
        hosts=_hosts(estate),
        web=web,
        monitor_hosts=monitor_hosts,
        prometheus=monitoring.PROMETHEUS_ADDRESS,
        alertmanager=monitoring.ALERTMANAGER_ADDRESS,
        hosted=first.hosted_monitors,
        heartbeat_slugs={name: healthchecks.slug(first.hosted_monitors.tag, name) for name in estate.settings},
        prometheus_alerts=PROMETHEUS_ALERTS,
        extra_rules=next((estate.settings[name].monitoring.extra_rules for name in monitor_hosts), []),
        monit_events=MONIT_EVENTS,
        monit_checks=[check.name for check in monit.process_checks(web)],
        slice_units={name: slices.slice_unit(name) for name in web.slices},
        nginx_sites_dir=nginx.SITES_DIR,
        maintenance_timer=maintenance.TIMER_UNIT,
        slowlogs={name: php_fpm.slowlog(name, service) for name, service in php_fpm.pools(web).items()},
        # The monitors hosts by name (the runbook needs no address resolved), but the host itself.
        firewall={name: firewall.openings(host_settings, {other: [other] for other in monitor_hosts if other != name})
                  for name, host_settings in estate.settings.items()},
        everywhere=settings.EVERYWHERE,
        rollback_after=first.firewall.rollback_after,
    )


def main() -> None:
    inventory_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_INVENTORY
    print(render_runbook(read_inventory(inventory_path)), end="")


if __name__ == "__main__":
    main()
