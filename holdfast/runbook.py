"""The runbook, rendered from the same data the deploy reads: who to call in what order and
how, what runs where, how to check status, what each alert means and what to do first.

    .venv/bin/python -m holdfast.runbook [INVENTORY] > docs/RUNBOOK.md

The committed docs/RUNBOOK.md is the production inventory's; a unit test fails when it
differs from a fresh rendering, so the runbook cannot drift from the plan.
"""

import sys

from holdfast import channels, firewall, maintenance, monit, monitoring, nginx, php_fpm, settings, slices
from holdfast.audit import Estate
from holdfast.inventory import MONITOR_GROUP, WATCHED_GROUP, read_inventory
from holdfast.providers import healthchecks
from holdfast.templates import render

DEFAULT_INVENTORY = "inventories/prod.py"


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
        delivered_by={channel: channels.PROVIDERS[provider.provider].NAME
                      for channel, provider in first.escalation.providers.items()},
        mail=first.mail,
        hosts=_hosts(estate),
        web=web,
        monitor_hosts=monitor_hosts,
        prometheus=monitoring.PROMETHEUS_ADDRESS,
        alertmanager=monitoring.ALERTMANAGER_ADDRESS,
        hosted=first.hosted_monitors,
        heartbeat_slugs={name: healthchecks.slug(first.hosted_monitors.tag, name) for name in estate.settings},
        alerts=monitoring.ALERTS | monitoring.extra_alerts(
            next((estate.settings[name].monitoring for name in monitor_hosts), first.monitoring)),
        monit_events=MONIT_EVENTS,
        monit_checks=[check.name for check in monit.process_checks(web)],
        slice_units={name: slices.slice_unit(name) for name in web.slices},
        nginx_sites_dir=nginx.SITES_DIR,
        maintenance_timer=maintenance.TIMER_UNIT,
        slowlogs={name: php_fpm.slowlog(name, service) for name, service in php_fpm.pools(web).items()},
        # The monitors hosts (and, on them, the watched hosts that send Monit's events) by name:
        # the runbook needs no address resolved.
        firewall={name: firewall.openings(
            host_settings, {other: [other] for other in monitor_hosts if other != name},
            {watched: [watched] for watched in estate.group(WATCHED_GROUP)} if name in monitor_hosts else None,
        ) for name, host_settings in estate.settings.items()},
        everywhere=settings.EVERYWHERE,
        rollback_after=first.firewall.rollback_after,
    )


def main() -> None:
    inventory_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_INVENTORY
    print(render_runbook(read_inventory(inventory_path)), end="")


if __name__ == "__main__":
    main()
