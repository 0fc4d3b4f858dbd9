"""The external monitor watches every site and web host of the inventory, and its alerts
reach the escalation plan's people by mail.

Read-only tests check the monitor host's services, targets, rules and routes. The
disruptive ones break a web host on purpose and read the alert mail where the relay
delivers it (the lab's mail sink on the relay host, lab/mailsink.py).
"""

import json
import time
import urllib.parse
from pathlib import Path

import pytest

from holdfast import monitoring, nginx
from holdfast.inventory import MONITOR_GROUP
from lab import acme
from lab.doubles import listening_at
from lab.doubles.healthchecks import HealthchecksDouble
from lab.harness.deploys import run_deploy
from lab.harness.failover import bridge_port, set_link
from lab.harness.faults import summary, unmonitor
from lab.harness.probes import Mailboxes, wait_for
from tests.conftest import append
from tests.host.conftest import targets_in

pytestmark = pytest.mark.hosts("monitors")

BUILT_IN_ALERTS = ("Watchdog", "SiteDown", "SiteSlow", "CertificateExpiresSoon", "HostDown", "MonitCheckFailing")


def pytest_generate_tests(metafunc):
    """``watched`` (a web host's Target) and ``watched_site`` (one of its sites' names)."""
    if "watched" not in metafunc.fixturenames:
        return
    web = targets_in(metafunc.config, ["web"])
    if "watched_site" in metafunc.fixturenames:
        pairs = [(target, name) for target in web for name in target.settings.sites]
        metafunc.parametrize(("watched", "watched_site"), pairs, ids=[f"{t.name}-{n}" for t, n in pairs])
    else:
        metafunc.parametrize("watched", web, ids=[target.name for target in web])


# --- what the monitor host says -------------------------------------------------------


def api(host, address: str, path: str, **query) -> dict | list:
    """The JSON answer of a monitor-host service's HTTP API (they listen on loopback only)."""
    url = f"http://{address}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    return json.loads(host.check_output(f"curl -sS -m 5 {url!r}"))


def active_targets(host) -> list[dict]:
    return api(host, monitoring.PROMETHEUS_ADDRESS, "/api/v1/targets", state="active")["data"]["activeTargets"]


def target_health(monitor, job: str, **labels) -> list[str]:
    """Health ("up", "down", "unknown") of each active target of ``job`` with ``labels``."""
    return [
        target["health"] for target in active_targets(monitor)
        if target["labels"]["job"] == job and labels.items() <= target["labels"].items()
    ]


def query(host, promql: str) -> list[dict]:
    return api(host, monitoring.PROMETHEUS_ADDRESS, "/api/v1/query", query=promql)["data"]["result"]


def own_metric(host, address: str, name: str) -> str:
    """A metric a monitor-host service reports about itself."""
    return host.check_output(f"curl -sS -m 5 http://{address}/metrics | awk '$1 == \"{name}\" {{print $2}}'")


MAIL_POLL = 0.5  # seconds between two looks at the mailboxes


# --- read-only: services, configuration, targets --------------------------------------


@pytest.mark.parametrize("unit", monitoring.SERVICE_FLAGS)
def test_monitor_service_is_running_and_enabled(host, unit):
    service = host.service(unit)
    assert service.is_running and service.is_enabled


@pytest.mark.parametrize("address", [monitoring.PROMETHEUS_ADDRESS, monitoring.ALERTMANAGER_ADDRESS,
                                     monitoring.BLACKBOX_ADDRESS])
def test_monitor_service_listens_on_loopback_only(host, address):
    port = address.rsplit(":", 1)[1]
    listening = [listener for listener in host.socket.get_listening_sockets() if listener.endswith(f":{port}")]
    assert listening == [f"tcp://{address}"]


@pytest.mark.parametrize(
    "check",
    [
        f"promtool check config {monitoring.PROMETHEUS_CONFIG}",
        f"amtool check-config {monitoring.ALERTMANAGER_CONFIG}",
        f"prometheus-blackbox-exporter --config.check --config.file={monitoring.BLACKBOX_CONFIG}",
    ],
    ids=["prometheus", "alertmanager", "blackbox"],
)
def test_live_configuration_passes_its_checker(host, check):
    assert host.run(check).rc == 0


@pytest.mark.parametrize(
    ("address", "metric"),
    [(monitoring.PROMETHEUS_ADDRESS, "prometheus_config_last_reload_successful"),
     (monitoring.ALERTMANAGER_ADDRESS, "alertmanager_config_last_reload_successful")],
    ids=["prometheus", "alertmanager"],
)
def test_service_runs_the_live_configuration(host, address, metric):
    assert own_metric(host, address, metric) == "1"


def test_alertmanager_configuration_is_readable_by_root_and_the_service_only(host):
    config = host.file(monitoring.ALERTMANAGER_CONFIG)
    assert (config.user, config.group, config.mode) == ("root", monitoring.SERVICE_USER, 0o640)


def first_results(settings) -> float:
    """Seconds a new target may need to show a result: a first scrape after a fresh deploy."""
    return 2 * settings.monitoring.scrape_interval + settings.monitoring.probe_timeout


def eventually(read, expected, timeout: float):
    """What ``read()`` returns once it equals ``expected``, or at ``timeout`` seconds."""
    found = None

    def matches():
        nonlocal found
        found = read()
        return found == expected

    wait_for(matches, timeout)
    return found


def test_site_is_probed_through_nginx_with_success(host, settings, watched, watched_site):
    promql = f'probe_success{{job="sites",host="{watched.name}",site="{watched_site}"}}'
    values = eventually(lambda: [result["value"][1] for result in query(host, promql)], ["1"], first_results(settings))
    assert values == ["1"]


def test_site_probe_verifies_https_and_exports_the_certificate_expiry(host, settings, watched, watched_site):
    if not watched.settings.sites[watched_site].tls:
        pytest.skip("the site has no tls")
    labels = f'job="sites",host="{watched.name}",site="{watched_site}"'
    promql = f"probe_http_ssl{{{labels}}} * on() group_left() (probe_ssl_earliest_cert_expiry{{{labels}}} - time())"
    left = eventually(lambda: [float(result["value"][1]) > 0 for result in query(host, promql)], [True],
                      first_results(settings))
    assert left == [True]


def test_site_probe_target_is_up(host, settings, watched, watched_site):
    health = eventually(lambda: target_health(host, "sites", host=watched.name, site=watched_site), ["up"],
                        first_results(settings))
    assert health == ["up"]


def test_web_host_node_exporter_target_is_up(host, settings, watched):
    health = eventually(lambda: target_health(host, "nodes", host=watched.name), ["up"], first_results(settings))
    assert health == ["up"]


def test_database_metrics_reach_prometheus(host, settings, watched):
    if not monitoring.has_mysqld(watched.settings):
        pytest.skip("no mysqld exporter on this host")
    promql = f'mysql_up{{job="mysqld",host="{watched.name}"}}'
    values = eventually(lambda: [result["value"][1] for result in query(host, promql)], ["1"], first_results(settings))
    assert values == ["1"]


def test_targets_are_exactly_the_inventory(host, targets):
    web = targets_in_group(targets, "web")
    expected = {("sites", name, site) for name, target in web.items() for site in target.settings.sites}
    expected |= {("nodes", name, None) for name in web}
    inventory = next(iter(web.values())).pyinfra_host.inventory
    expected |= {("service_addresses", address.address, address.site)
                 for address in monitoring.service_addresses(monitoring.watched_hosts(inventory))}
    expected |= {("mysqld", name, None) for name, target in web.items() if monitoring.has_mysqld(target.settings)}
    found = {(t["labels"]["job"], t["labels"]["host"], t["labels"].get("site")) for t in active_targets(host)}
    assert found == expected


def targets_in_group(targets, group: str) -> dict:
    return {name: target for name, target in targets.items() if group in target.groups}


def test_every_alert_rule_is_loaded(host, settings):
    groups = api(host, monitoring.PROMETHEUS_ADDRESS, "/api/v1/rules")["data"]["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    assert loaded >= {*BUILT_IN_ALERTS, *(rule.name for rule in settings.monitoring.extra_rules)}


# Prometheus sends a firing alert again every minute (its --rules.alert.resend-delay); one
# sent before Alertmanager was ready after a fresh deploy arrives with the next.
RESEND_DELAY = 60


def test_watchdog_alert_reaches_its_receiver(host, settings):
    def receivers():
        alerts = api(host, monitoring.ALERTMANAGER_ADDRESS, "/api/v2/alerts", filter='alertname="Watchdog"')
        return [receiver["name"] for alert in alerts for receiver in alert["receivers"]]

    expected = [monitoring.WATCHDOG_RECEIVER]
    assert eventually(receivers, expected, RESEND_DELAY + 2 * settings.monitoring.evaluation_interval) == expected


@pytest.mark.disruptive
def test_watchdog_heartbeat_reaches_the_hosted_heartbeat(settings):
    """Alertmanager calls watchdog_url with the Watchdog alert, every watchdog_interval: in
    the lab the Healthchecks.io double listens there and records the calls."""
    url = settings.monitoring.watchdog_url
    if url is None:
        pytest.skip("no watchdog_url")
    path = urllib.parse.urlsplit(url).path

    def watchdog_calls():
        return [request for request in double.requests if request.method == "POST" and request.path == path
                and isinstance(request.body, dict)
                and any(alert["labels"]["alertname"] == "Watchdog" for alert in request.body.get("alerts", []))]

    with HealthchecksDouble("unused", **listening_at(url)) as double:
        assert wait_for(watchdog_calls, 2 * settings.monitoring.watchdog_interval + 5), double.requests


def routed_to(host, *labels: str) -> str:
    return host.check_output(
        f"amtool config routes test --config.file={monitoring.ALERTMANAGER_CONFIG} {' '.join(labels)} 2>/dev/null"
    )


def test_each_tier_copy_of_an_alert_routes_to_that_tier(host, settings):
    tiers = [tier.name for tier in settings.escalation.tiers]
    assert [routed_to(host, "alertname=SiteDown", "host=web", f"tier={tier}") for tier in tiers] == tiers


@pytest.mark.hosts("web")
def test_node_exporter_is_running_on_watched_host(host):
    service = host.service("prometheus-node-exporter")
    assert service.is_running and service.is_enabled


def test_monit_view_of_each_service_reaches_prometheus(host, watched):
    services = sorted(watched.settings.services)
    promql = f'holdfast_monit_check_ok{{job="nodes",host="{watched.name}"}}'

    def ok_services():
        results = query(host, promql)
        return sorted(r["metric"]["check"] for r in results if r["value"][1] == "1" and r["metric"]["check"] in services)

    assert eventually(ok_services, services, 4 * watched.settings.monit.cycle + 10) == services


# --- disruptive: outages and the mail they cause ---------------------------------------


def alert_deadline(monitor, after: int) -> float:
    """Seconds from a failure to its alert mail: the alert's wait, one probe that times out,
    a scrape and an evaluation to notice it, Alertmanager's bundling, and delivery."""
    return after + monitor.probe_timeout + monitor.scrape_interval + monitor.evaluation_interval + monitor.group_wait + 15


def resolve_deadline(monitor) -> float:
    """Seconds from recovery to the resolved mail."""
    return monitor.scrape_interval + monitor.evaluation_interval + monitor.group_interval + 15


class Outage:
    """What one outage caused: for each tier waited for, the seconds until its alert mail
    (from the break) and its resolved mail (from the repair), None if not in time; and
    the subjects of mail the other tiers got from the break until the resolved mail."""

    def __init__(self):
        self.alerted_after: list[float | None] = []
        self.resolved_after: list[float | None] = []
        self.other_tiers_mailed: list[str] = []


def run_outage(relay, settings, break_it, repair, alert: str, host_name: str, after: int, tiers: int = 1) -> Outage:
    """Break a host, wait for the alert mail of the first ``tiers`` tiers, repair it, and
    wait for their resolved mail. ``after``: the alert's own wait before tier 1."""
    monitor = settings.monitoring
    plan = settings.escalation
    waited = [(tier, Mailboxes(relay, plan.tier_emails(tier.name))) for tier in plan.tiers[:tiers]]
    others = Mailboxes(relay, [address for tier in plan.tiers[tiers:] for address in plan.tier_emails(tier.name)])
    outage = Outage()

    def wait_for_mail(status: str, since: float, deadline) -> list[float | None]:
        arrivals = []
        for tier, mailboxes in waited:
            subject = f"[{status}] {alert} on {host_name} ({tier.name})"
            arrived = wait_for(
                lambda mailboxes=mailboxes, subject=subject: not mailboxes.waiting_for(subject),
                deadline(tier) - (time.monotonic() - since),
                interval=MAIL_POLL,
            )
            arrivals.append(round(time.monotonic() - since, 1) if arrived else None)
        return arrivals

    broken = time.monotonic()
    break_it()
    try:
        outage.alerted_after = wait_for_mail(
            "FIRING", broken, lambda tier: alert_deadline(monitor, after + tier.escalate_after))
    finally:
        repair()
    repaired = time.monotonic()
    outage.resolved_after = wait_for_mail("RESOLVED", repaired, lambda tier: resolve_deadline(monitor))
    # Read once the outage is over, resolved mail and all: a later tier mailed at any time in it shows.
    outage.other_tiers_mailed = [subject for address in others.paths for subject in others.subjects(address)]
    print(f"{alert} on {host_name}: alert mail after {outage.alerted_after} s, resolved mail after "
          f"{outage.resolved_after} s (per tier)")
    return outage


def stop_nginx(web):
    """Functions that stop and start nginx on ``web``, holding off Monit's restart if Monit is there."""
    host = web.testinfra
    has_monit = host.exists("monit")

    def stop():
        if has_monit:
            unmonitor(host, "nginx")
        host.check_output("systemctl stop nginx")

    def start():
        host.check_output("systemctl start nginx")
        if has_monit:
            host.run("monit monitor nginx")

    return stop, start


def site_down_wait(monitor) -> int:
    return (monitor.failed_probes - 1) * monitor.scrape_interval


@pytest.fixture(scope="module")
def nginx_outage(relay, settings, targets):
    """nginx stopped on the first web host."""
    web = next(target for target in targets.values() if "web" in target.groups)
    return run_outage(relay, settings, *stop_nginx(web), "SiteDown", web.name, site_down_wait(settings.monitoring))


@pytest.fixture(scope="module")
def host_death(relay, settings, targets):
    """The last web host cut off the network without a word: it dies silently."""
    web = [target for target in targets.values() if "web" in target.groups][-1]
    port = bridge_port(web.testinfra)

    return run_outage(relay, settings, lambda: set_link(port, "down"), lambda: set_link(port, "up"), "HostDown", web.name,
                      settings.monitoring.host_down_after)


@pytest.fixture(scope="module")
def monit_check_outage(relay, settings, targets):
    """Monit on the first web host stops watching cron: Monit's exported view says so."""
    web = next(target for target in targets.values() if "web" in target.groups)
    after = site_down_wait(settings.monitoring) + web.settings.monit.cycle  # plus one export
    return run_outage(relay, settings, lambda: web.testinfra.check_output("monit unmonitor cron"),
                      lambda: web.testinfra.check_output("monit monitor cron"), "MonitCheckFailing", web.name, after)


# Monit on a web host stops watching a check; nginx stopped; a web host cut off the network.
# The tests fetch the outage by name, so they take ``relay`` themselves: it is what runs
# them once per monitor host, with its settings.
OUTAGES = ["monit_check_outage", "nginx_outage", "host_death"]


@pytest.mark.disruptive
@pytest.mark.parametrize("outage", OUTAGES)
def test_alert_mail_reaches_tier1(request, relay, outage):
    assert request.getfixturevalue(outage).alerted_after[0] is not None


@pytest.mark.disruptive
@pytest.mark.parametrize("outage", OUTAGES)
def test_resolved_mail_follows_recovery(request, relay, outage):
    assert request.getfixturevalue(outage).resolved_after[0] is not None


@pytest.mark.disruptive
def test_later_tiers_are_not_mailed_before_their_wait(nginx_outage, settings):
    longest_outage = alert_deadline(settings.monitoring, site_down_wait(settings.monitoring)) + resolve_deadline(
        settings.monitoring)
    if any(tier.escalate_after < longest_outage for tier in settings.escalation.tiers[1:]):
        pytest.skip("a later tier's wait is shorter than this test's outage may last")
    # The error budget's page (SiteBudgetBurnFast) outlasts the outage by its 5-minute
    # window, so a later tier with a short wait (the lab's) may rightly hear of it.
    assert [subject for subject in nginx_outage.other_tiers_mailed if "SiteDown" in subject] == []


# --- disruptive: whole deploys ----------------------------------------------------------


ESCALATION_WAIT = 20  # seconds: the later tiers' wait in the plan the escalation test deploys


def with_later_tiers_waiting(settings, seconds: int):
    """``settings`` with every tier after the first waiting ``seconds``."""
    tiers = [tier.model_copy(update={"escalate_after": seconds}) if index else tier
             for index, tier in enumerate(settings.escalation.tiers)]
    return settings.model_copy(update={"escalation": settings.escalation.model_copy(update={"tiers": tiers})})


@pytest.mark.disruptive
def test_tier2_is_mailed_after_its_wait_while_unresolved(pytestconfig, project_copy, relay, settings, targets):
    if len(settings.escalation.tiers) < 2:
        pytest.skip("the escalation plan has one tier")
    inventory = pytestconfig.getoption("inventory")
    # The plan is all.py's (the lab's, group_data/lab.py, takes its waits up to 90 s). Its
    # waits reach only the monitor hosts' rules and routes: only they are deployed.
    append(project_copy / "group_data/all.py",
           f'for _tier in escalation["tiers"][1:]:\n    _tier["escalate_after"] = {ESCALATION_WAIT}')
    web = next(target for target in targets.values() if "web" in target.groups)
    quick = with_later_tiers_waiting(settings, ESCALATION_WAIT)
    monitors = ("--limit", MONITOR_GROUP)
    try:
        deployed = run_deploy(inventory, *monitors, cwd=project_copy)
        assert deployed.returncode == 0, deployed.output[-3000:]
        outage = run_outage(relay, quick, *stop_nginx(web), "SiteDown", web.name,
                            site_down_wait(settings.monitoring), tiers=2)
    finally:
        restored = run_deploy(inventory, *monitors, cwd=pytestconfig.holdfast_project)  # not the edited copy
    assert restored.returncode == 0, restored.output[-3000:]
    tier1, tier2 = outage.alerted_after[:2]
    # Each arrival is seen by polling, MAIL_POLL apart: allow one poll on top of an evaluation.
    earliest = ESCALATION_WAIT - settings.monitoring.evaluation_interval - MAIL_POLL
    assert tier1 is not None and tier2 is not None and tier2 - tier1 >= earliest, outage.__dict__


def hosts_with_targets(host) -> set[str]:
    return {target["labels"]["host"] for target in active_targets(host)}


@pytest.mark.disruptive
def test_host_removed_from_the_inventory_loses_its_targets(host, pytestconfig, project_copy, targets, settings):
    web = list(targets_in_group(targets, "web"))
    if len(web) < 2:
        pytest.skip("needs two web hosts")
    kept, removed = web[:-1], web[-1]
    inventory = pytestconfig.getoption("inventory")
    append(project_copy / inventory, "web = web[:-1]")
    append(project_copy / "group_data/lab.py", "failover['enabled'] = False  # refused for one web host")
    append(project_copy / "group_data/lab.py",
           "audit['acknowledged']['single-host-site'] = 'this test removes the second web host for a while'")
    try:
        run = run_deploy(inventory, cwd=project_copy)
        assert run.returncode == 0, run.output[-3000:]
        wait_for(lambda: removed not in hosts_with_targets(host), 15)  # Prometheus reloads in the background
        left = hosts_with_targets(host)
    finally:
        restored = run_deploy(inventory, cwd=pytestconfig.holdfast_project)  # not the edited copy
        wait_for(lambda: target_health(host, "nodes", host=removed) == ["up"], 3 * settings.monitoring.scrape_interval)
    assert restored.returncode == 0, restored.output[-3000:]
    assert left == set(kept)


def live_prometheus(host) -> dict:
    """Prometheus' live configuration files, process and last reload."""
    return {
        "files": host.check_output(f"sha1sum {monitoring.CONFIG_DIR}/*.yml"),
        "pid": host.service("prometheus").systemd_properties["MainPID"],
        "reloaded": own_metric(host, monitoring.PROMETHEUS_ADDRESS,
                               "prometheus_config_last_reload_success_timestamp_seconds"),
    }


BROKEN_RULE = ('monitoring = {**globals().get("monitoring", {}), "extra_rules": '
               '[{"name": "Broken", "expr": "rate(up[5m]", "summary": "an unclosed parenthesis"}]}')


@pytest.mark.disruptive
def test_broken_rule_is_rejected_and_the_live_configuration_stays(host, pytestconfig, project_copy):
    before = live_prometheus(host)
    inventory = pytestconfig.getoption("inventory")
    append(project_copy / "group_data" / f"{Path(inventory).stem}.py", BROKEN_RULE)
    run = run_deploy(inventory, cwd=project_copy)
    assert run.returncode != 0 and "\"Broken\": could not parse expression" in run.output, run.output[-3000:]
    assert live_prometheus(host) == before


# --- a certificate about to expire (lab only) --------------------------------------------


def firing(monitor, alert: str, **labels) -> bool:
    alerts = api(monitor, monitoring.PROMETHEUS_ADDRESS, "/api/v1/alerts")["data"]["alerts"]
    return any(found["labels"]["alertname"] == alert and labels.items() <= found["labels"].items()
               and found["state"] == "firing" for found in alerts)


def renew_from_pebble(targets, validity: int | None, web_hosts: list) -> None:
    """Restart the lab's pebble issuing certificates valid ``validity`` seconds (None: its
    default), trust its new root everywhere (the blackbox exporter reads the store at start)
    and have ``web_hosts`` obtain their certificates again (the deploy's certbot command)."""
    monitor = targets[acme.acme_host().name].testinfra
    setting = f"config['pebble']['certificateValidityPeriod'] = {validity}" if validity else \
        "config['pebble'].pop('certificateValidityPeriod', None)"
    monitor.check_output(
        f"python3 -c \"import json; path = '{acme.CONFIG_DIR}/pebble-config.json'; config = json.load(open(path)); "
        f"{setting}; json.dump(config, open(path, 'w'), indent=2)\" && systemctl restart pebble"
    )
    for target in targets.values():
        target.testinfra.check_output(acme.trust_root_command())
    monitor.check_output("systemctl restart prometheus-blackbox-exporter")
    for web in web_hosts:  # pebble forgot its accounts too: certbot registers anew
        web.testinfra.check_output("rm -rf /etc/letsencrypt/accounts && " + " && ".join(
            nginx.certbot_command(name, site, web.settings.acme) + " --force-renewal"
            for name, site in web.settings.sites.items() if site.tls and site.tls.mode == "acme"
        ))
    acme.client_context.cache_clear()


def monit_site_checks(web) -> tuple[list[str], float]:
    """Monit's checks of ``web``'s sites with an acme certificate, and how long one takes to
    fail (its cycles, one more to start and one to report)."""
    sites = {name: site for name, site in web.settings.sites.items() if site.tls and site.tls.mode == "acme"}
    cycles = max(web.settings.services[site.backend.service].supervision.health_cycles for site in sites.values())
    return [f"site-{name}" for name in sites], (cycles + 2) * web.settings.monit.cycle


@pytest.mark.disruptive
def test_a_certificate_about_to_expire_raises_the_alert_and_fails_monits_site_check(host, settings, targets):
    web = [target for target in targets_in_group(targets, "web").values()
           if any(site.tls and site.tls.mode == "acme" for site in target.settings.sites.values())]
    if not web:
        pytest.skip("no web host with an acme site")
    short = min(settings.monitoring.certificate_expiry, web[0].settings.monit.certificate_days * 86400) // 2
    checks, monit_wait = monit_site_checks(web[0])

    def monit_ok() -> bool:
        found = summary(web[0].testinfra)
        return all(found.get(check) == "OK" for check in checks)

    try:
        renew_from_pebble(targets, short, web[:1])
        raised = wait_for(lambda: firing(host, "CertificateExpiresSoon", host=web[0].name),
                          first_results(settings) + 2 * settings.monitoring.evaluation_interval)
        monit_failed = wait_for(lambda: not monit_ok(), monit_wait)
    finally:
        renew_from_pebble(targets, None, web)
    cleared = wait_for(lambda: not firing(host, "CertificateExpiresSoon"),
                       first_results(settings) + 2 * settings.monitoring.evaluation_interval)
    assert (raised, monit_failed, cleared, wait_for(monit_ok, monit_wait)) == (True, True, True, True)
