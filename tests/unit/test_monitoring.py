"""The external monitor's configuration, rendered from the sample group_data and inventories."""

import json
import re
import subprocess

import pytest
from pyinfra.context import ctx_host, ctx_inventory

from holdfast import channels, loading, monitoring, settings
from holdfast.inventory import read_inventory
from tests.conftest import (
    FAKE_CHANNEL_ENV,
    FAKE_DEPLOY_ENV,
    FAKE_SMTP_ENV,
    FLEET,
    append,
    edit,
    executable,
    load_settings,
    settings_error,
)
from tests.unit.conftest import PROD


def monitor_of(inventory):
    return inventory.get_group("monitors")[0]


def monitor_settings(inventory) -> settings.HostSettings:
    return loading.load(inventory)[monitor_of(inventory).name]


def rendered(files, path) -> str:
    return next(file.content for file in files if file.path == path)


def prometheus_config(inventory) -> str:
    files = monitoring.prometheus_files(monitor_settings(inventory), monitoring.watched_hosts(inventory))
    return rendered(files, monitoring.PROMETHEUS_CONFIG)


def rules(host_settings) -> list[dict]:
    """The alert rules of the rendered rule file: name, for, tier label, in file order."""
    text = rendered(monitoring.prometheus_files(host_settings, []), monitoring.RULES_FILE)
    return [
        {"name": name, "for": int(after) if after else None, "tier": tier or None}
        for name, after, tier in re.findall(
            r"- alert: (\w+)\n.*?(?:for: (\d+)s\n.*?)?(?:tier: \"(\w+)\"\n.*?)?summary", text, re.S
        )
    ]


def alertmanager_config(host_settings, environ=FAKE_DEPLOY_ENV) -> list:
    return monitoring.alertmanager_files(host_settings, environ)


# --- registration from the inventory -------------------------------------------------


def test_every_site_of_every_web_host_is_probed_through_its_nginx(prod):
    probes = monitoring.probes(monitoring.watched_hosts(prod))
    expected = [
        (web.name, name, f"{'https' if site.tls else 'http'}://{web.name}{site.content_path}", site.server_names[0])
        for web in prod.get_group("web")
        for name, site in loading.load(prod)[web.name].sites.items()
    ]
    assert [(p.host, p.site, p.url, p.server_name) for p in probes] == expected
    assert all(p.url.startswith("https://") for p in probes)  # the sample's sites have tls


def test_a_host_is_reached_at_its_ssh_hostname(monkeypatch):
    monkeypatch.chdir(FLEET)
    lab = read_inventory("inventories/lab.py")
    addresses = {host.name: host.address for host in monitoring.watched_hosts(lab)}
    assert addresses == {web.name: web.data.ssh_hostname for web in lab.get_group("web")}


def test_ipv6_addresses_are_bracketed_in_urls():
    assert monitoring.url_address("2001:db8::1") == "[2001:db8::1]"
    assert monitoring.url_address("192.0.2.1") == "192.0.2.1"


@pytest.mark.parametrize("text", ["Welcome to the shop", "Price: $5 (today) [50% off]*", "a.b|c\\d^e{2}"])
def test_expected_text_is_matched_literally(text):
    pattern = monitoring._literal_regex(text)
    assert re.fullmatch(pattern, text)
    assert not re.fullmatch(pattern, text.replace(text[-1], "#"))


def test_every_web_host_is_a_node_exporter_target(prod):
    config = prometheus_config(prod)
    for web in prod.get_group("web"):
        assert f'- targets: ["{web.name}:{monitoring.NODE_EXPORTER_PORT}"]\n        labels:\n          host: "{web.name}"' in config


def test_a_web_host_with_a_mysqld_exporter_is_its_target(prod):
    config = prometheus_config(prod).split("- job_name: mysqld", 1)[1]
    for web in prod.get_group("web"):
        assert f'- targets: ["{web.name}:{monitoring.MYSQLD_EXPORTER_PORT}"]\n        labels:\n          host: "{web.name}"' in config


def test_no_mysqld_exporter_no_target(project_copy):
    edit(project_copy / "group_data/web.py", '"exporter": "mysqld",', "")
    config = prometheus_config(read_inventory(PROD))
    assert "- job_name: mysqld\n    static_configs: []" in config


def test_a_host_removed_from_the_inventory_loses_its_targets(project_copy):
    edit(project_copy / PROD, '    ("web2.example.com", _deploy_user),\n', "")
    config = prometheus_config(read_inventory(PROD))
    assert "web1.example.com" in config and "web2.example.com" not in config


def test_no_web_hosts_still_renders_valid_empty_lists(project_copy):
    edit(project_copy / PROD, "web = [", "_web = [")
    inventory = read_inventory(PROD)
    assert "static_configs: []" in prometheus_config(inventory)
    blackbox = monitoring.blackbox_files(monitor_settings(inventory), [])[0].content
    assert "modules: {}" in blackbox


# --- alert rules and escalation ------------------------------------------------------


BUILT_IN = ["SiteDown", "SiteSlow", "HostDown", "MonitCheckFailing"]


def test_each_alert_is_written_once_per_tier_with_the_tier_wait_added(prod):
    host_settings = monitor_settings(prod)
    tiers = host_settings.escalation.tiers
    by_name = {}
    for rule in rules(host_settings):
        by_name.setdefault(rule["name"], []).append(rule)
    for name in BUILT_IN:
        copies = by_name[name]
        assert [copy["tier"] for copy in copies] == [tier.name for tier in tiers]
        base = copies[0]["for"]
        assert [copy["for"] - base for copy in copies] == [tier.escalate_after - tiers[0].escalate_after for tier in tiers]


def test_site_down_waits_for_the_failed_probes_in_a_row(prod):
    monitor = monitor_settings(prod).monitoring
    site_down = next(rule for rule in rules(monitor_settings(prod)) if rule["name"] == "SiteDown")
    assert site_down["for"] == (monitor.failed_probes - 1) * monitor.scrape_interval


def test_host_down_waits_host_down_after(prod):
    host_settings = monitor_settings(prod)
    host_down = next(rule for rule in rules(host_settings) if rule["name"] == "HostDown")
    assert host_down["for"] == host_settings.monitoring.host_down_after


def test_watchdog_fires_once_untiered(prod):
    watchdogs = [rule for rule in rules(monitor_settings(prod)) if rule["name"] == "Watchdog"]
    assert watchdogs == [{"name": "Watchdog", "for": None, "tier": None}]


def test_monit_state_is_read_from_its_exported_metric(prod):
    text = rendered(monitoring.prometheus_files(monitor_settings(prod), []), monitoring.RULES_FILE)
    assert 'holdfast_monit_check_ok{job=\\"nodes\\"} == 0' in text


def test_extra_rules_are_escalated_like_the_built_in_ones(monkeypatch):
    monkeypatch.chdir(FLEET)
    lab_monitor = monitor_settings(read_inventory("inventories/lab.py"))
    extra = lab_monitor.monitoring.extra_rules[0]
    copies = [rule for rule in rules(lab_monitor) if rule["name"] == extra.name]
    assert [(copy["tier"], copy["for"]) for copy in copies] == [
        (tier.name, extra.after + tier.escalate_after) for tier in lab_monitor.escalation.tiers
    ]


# --- Alertmanager --------------------------------------------------------------------


def test_each_tier_routes_to_its_members_by_email(prod):
    host_settings = monitor_settings(prod)
    config = rendered(alertmanager_config(host_settings), monitoring.ALERTMANAGER_CONFIG)
    for tier in host_settings.escalation.tiers:
        emails = ", ".join(contact.email for contact in host_settings.escalation.tier_contacts(tier))
        assert f"- receiver: \"{tier.name}\"\n      matchers: ['tier=\"{tier.name}\"']" in config
        assert f'- name: "{tier.name}"\n    email_configs:\n      - to: "{emails}"\n        send_resolved: true' in config
    # Every mail says which alert, where, and what to do, as the chat messages do.
    assert (f"        headers:\n          Subject: {json.dumps(channels.TITLE, ensure_ascii=False)}\n"
            f"        text: {json.dumps(channels.ALERT_LINES, ensure_ascii=False)}\n") in config


def test_watchdog_goes_to_the_heartbeat_only_when_one_is_configured(prod):
    host_settings = monitor_settings(prod)
    without = rendered(alertmanager_config(host_settings), monitoring.ALERTMANAGER_CONFIG)
    url = "https://hc-ping.com/0f3a5e2c-0000-4000-8000-000000000000"
    with_url = host_settings.model_copy(update={
        "monitoring": host_settings.monitoring.model_copy(update={"watchdog_url": url})
    })
    config = rendered(alertmanager_config(with_url), monitoring.ALERTMANAGER_CONFIG)
    assert "webhook_configs" not in without
    assert f'webhook_configs:\n      - url: "{url}"' in config
    receiver = json.dumps(monitoring.WATCHDOG_RECEIVER)
    assert f"    - receiver: {receiver}\n      matchers: ['alertname=\"Watchdog\"']" in config
    assert f"\n  - name: {receiver}\n    webhook_configs:" in config


def test_relay_password_goes_to_a_file_the_service_alone_reads(prod):
    files = {file.path: file for file in alertmanager_config(monitor_settings(prod))}
    password = files[monitoring.SMTP_PASSWORD_FILE]
    config = files[monitoring.ALERTMANAGER_CONFIG]
    secret = FAKE_SMTP_ENV["HOLDFAST_SMTP_PASSWORD"]
    assert (password.content, password.mode, password.user, password.group) == (secret, "640", "root", "prometheus")
    assert (config.mode, config.group) == ("640", "prometheus")
    assert secret not in config.content
    assert f"smtp_auth_password_file: {json.dumps(monitoring.SMTP_PASSWORD_FILE)}" in config.content
    assert 'smtp_auth_username: "alerts"' in config.content


def test_lab_relay_needs_no_login_and_no_tls(monkeypatch):
    monkeypatch.chdir(FLEET)
    files = alertmanager_config(monitor_settings(read_inventory("inventories/lab.py")), environ=FAKE_CHANNEL_ENV)
    assert monitoring.SMTP_PASSWORD_FILE not in [file.path for file in files]
    assert 'smtp_smarthost: "mon1:25"' in files[0].content
    assert "smtp_require_tls: false" in files[0].content
    assert "smtp_auth_password_file" not in files[0].content and "smtp_auth_username" not in files[0].content


# --- errors found while preparing the deploy -----------------------------------------


def prepare_error(inventory, environ=FAKE_DEPLOY_ENV) -> str:
    """The error deploy_monitor_host's preparation raises for the monitor host."""
    with ctx_inventory.use(inventory), ctx_host.use(monitor_of(inventory)):
        with pytest.raises(loading.SettingsError) as raised:
            monitoring.alertmanager_files(monitor_settings(inventory), environ)
    return str(raised.value)


def test_a_missing_relay_password_stops_the_deploy(prod):
    assert ("group_data/all.py: mail.password_env = 'HOLDFAST_SMTP_PASSWORD': expected a variable set in the "
            "deploy's environment") in prepare_error(prod, {"HOLDFAST_SMTP_USER": "alerts"})


@pytest.mark.parametrize("port", [587, 466])
def test_implicit_tls_needs_port_465(project_copy, port):
    edit(project_copy / "group_data/all.py", '"security": "starttls"', '"security": "tls"')
    edit(project_copy / "group_data/all.py", '"port": 587', f'"port": {port}')
    assert (f"group_data/all.py: mail.port = {port}: expected 465: Alertmanager speaks implicit TLS only there"
            in prepare_error(read_inventory(PROD)))


def test_a_tier_without_email_is_refused(project_copy):
    edit(project_copy / "group_data/all.py", '"channels": ["email", "phone"]', '"channels": ["phone"]')
    assert ("group_data/all.py: escalation.tiers[1].channels = ['phone']: expected 'email' among them"
            in prepare_error(read_inventory(PROD)))


# --- settings ------------------------------------------------------------------------


def monitoring_error(project_copy, section: str) -> str:
    append(project_copy / "group_data/lab.py", f"monitoring = {section}")
    return settings_error()


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"scrape_interval": "5s", "probe_timeout": "10s"},
         "monitoring.probe_timeout = 10: expected at most monitoring.scrape_interval (5)"),
        ({"probe_timeout": "3s", "slow_response": "3s"},
         "monitoring.slow_response = 3: expected less than monitoring.probe_timeout (3)"),
        ({"scrape_interval": 0}, "monitoring.scrape_interval = 0: expected greater than or equal to 1"),
        ({"failed_probes": "three"}, "monitoring.failed_probes = 'three': expected a whole number"),
        ({"watchdog_url": "hc-ping.com/x"}, "monitoring.watchdog_url = 'hc-ping.com/x': expected an http(s) URL"),
        ({"extra_rules": [{"name": "Disk full", "expr": "up == 0", "summary": "x"}]},
         "monitoring.extra_rules[0].name = 'Disk full': expected an alert name"),
        ({"extra_rules": [{"name": "Disk", "expr": "up == 0"}]},
         "monitoring.extra_rules[0].summary: required, but not set"),
        ({"scrape_interval": "61s"},
         "monitoring.scrape_interval = 61: expected at most 60s: the error budget's 5-minute window needs 5 probes at "
         "least"),
    ],
    ids=["timeout-over-interval", "slow-not-under-timeout", "zero-interval", "string-count", "bad-url",
         "bad-rule-name", "rule-without-summary", "interval-over-a-minute"],
)
def test_bad_monitoring_values(project_copy, section, expected):
    assert f"group_data/lab.py: {expected}" in monitoring_error(project_copy, section)


def test_a_probe_timeout_of_the_whole_scrape_interval_is_accepted():
    """A probe may take the whole interval between two probes, not more; and a probe a
    minute is the least the error budget's window takes."""
    assert settings.Monitoring(scrape_interval="5s", probe_timeout="5s", slow_response="2s").contradictions() == []
    assert settings.Monitoring(scrape_interval="60s", probe_timeout="5s", slow_response="2s").contradictions() == []


def test_monit_view_is_exported_for_node_exporter(tmp_path, monkeypatch):
    """The deploy's export script, run against a stand-in `monit` printing Monit 5.33's
    summary, writing node_exporter's textfile (here under tmp_path)."""
    executable(
        tmp_path / "monit",
        "#!/bin/sh\ncat <<'SUMMARY'\n"
        "Monit 5.33.0 uptime: 3m\n"
        " Service Name                     Status                      Type          \n"
        " web1                             OK                          System        \n"
        " php-fpm                          Does not exist              Process       \n"
        " cron                             Not monitored               Process       \n"
        " site-shop                        Initializing                Remote Host   \n"
        "SUMMARY\n",
    )
    monkeypatch.chdir(FLEET)
    web1 = load_settings()["web1"]
    exported, service, timer = monitoring.monit_export_files(web1)
    assert (exported.path, exported.mode) == (f"/usr/local/sbin/{monitoring.MONIT_EXPORT}", "755")
    assert f"ExecStart={exported.path}\n" in service.content
    assert f"OnUnitActiveSec={web1.monit.cycle}s\n" in timer.content
    textfile = tmp_path / "holdfast_monit.prom"
    assert monitoring.MONIT_EXPORT_FILE in exported.content
    script = executable(tmp_path / "export", exported.content.replace(monitoring.MONIT_EXPORT_FILE, str(textfile)))
    subprocess.run([script], check=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    samples = [line for line in textfile.read_text().splitlines() if not line.startswith("#")]
    assert samples == [
        'holdfast_monit_check_ok{check="web1",type="System",status="OK"} 1',
        'holdfast_monit_check_ok{check="php-fpm",type="Process",status="Does not exist"} 0',
        'holdfast_monit_check_ok{check="cron",type="Process",status="Not monitored"} 0',
    ]


def test_a_silent_monit_is_an_alert_after_a_few_of_its_cycles(prod):
    host_settings = monitor_settings(prod)
    text = rendered(monitoring.prometheus_files(host_settings, monitoring.watched_hosts(prod)), monitoring.RULES_FILE)
    silent_after = monitoring.MONIT_SILENT_CYCLES * host_settings.monit.cycle
    assert f'holdfast_monit.prom\\"}} > {silent_after}"' in text
    assert text.count("- alert: MonitSilent") == len(host_settings.escalation.tiers)


def test_prometheus_sends_to_alertmanager_probes_through_blackbox_and_misses_a_silent_monit(prod):
    mon1 = monitor_settings(prod)
    files = monitoring.prometheus_files(mon1, monitoring.watched_hosts(prod))
    config = rendered(files, monitoring.PROMETHEUS_CONFIG)
    assert f"- targets: [{json.dumps(monitoring.ALERTMANAGER_ADDRESS)}]" in config
    assert config.count(f"replacement: {json.dumps(monitoring.BLACKBOX_ADDRESS)}") >= 2
    alerts = rendered(files, monitoring.RULES_FILE)
    # node_exporter labels a textfile by its name alone.
    assert 'node_textfile_mtime_seconds{job=\\"nodes\\",file=~\\".*holdfast_monit.prom\\"} > ' in alerts
    # No web host, no Monit to miss.
    assert "MonitSilent" not in rendered(monitoring.prometheus_files(mon1, []), monitoring.RULES_FILE)


def test_a_site_without_tls_is_probed_over_http_and_for_its_content(project_copy):
    append(project_copy / "group_data/web.py", "sites['shop'].pop('tls', None)")
    inventory = read_inventory(PROD)
    (probe, *_) = monitoring.probes(monitoring.watched_hosts(inventory))
    site = loading.load(inventory)[probe.host].sites[probe.site]
    assert probe.url == f"http://{probe.host}{site.content_path}"
    assert re.fullmatch(probe.expect, site.content_expect)


def test_the_runbook_explains_a_rule_of_group_data_by_its_description_or_its_summary(prod):
    extra = monitor_settings(read_inventory("inventories/lab.py")).monitoring.extra_rules[0]
    described = extra.model_copy(update={"description": "The disk fills up."})
    for rule, meaning in ((extra, extra.summary), (described, "The disk fills up.")):
        explained = monitoring.extra_alerts(settings.Monitoring(extra_rules=[rule]))[rule.name]
        assert (explained.severity, explained.description) == (rule.severity, meaning)
        assert explained.first_steps == "(a rule of group_data: `monitoring.extra_rules`)"
