"""Monit: its settings, and the configuration rendered from the sample group_data."""

import re

import pytest
from pyinfra.context import ctx_host, ctx_inventory

from holdfast import loading, monit
from holdfast.inventory import read_inventory
from tests.conftest import FAKE_SMTP_ENV, FLEET, edit, fleet_settings, load_settings, settings_error


@pytest.fixture(scope="module")
def prod():
    return fleet_settings("inventories/prod.py")


@pytest.fixture(scope="module")
def lab():
    return fleet_settings()


def files_of(host_settings, login=None) -> dict[str, str]:
    return {file.path: file.content for file in monit.config_files(host_settings, login)}


# --- settings --------------------------------------------------------------------------


def test_production_cycle_is_the_default_and_the_lab_overrides_it(prod, lab):
    assert (prod["web1.example.com"].monit.cycle, lab["web1"].monit.cycle) == (30, 5)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"start_timeout": "10s",', '"match": "php-fpm: master",',
         "services.php-fpm.supervision = {"),
        ('"start_timeout": "10s",', '"match": "php-fpm: master",', "expected either pidfile or match"),
        ('"restart_limit": 3,', '"restart_limit": 6,', "expected restart_limit (6) at most restart_window (5)"),
        ('"cpu_cycles": 3,', '"cpu_cycles": 4,', "expected cpu_cycles (4) at most cpu_window (3)"),
        ('"cpu_cycles": 3,', '"cpu_cycles": 65,', "services.php-fpm.supervision.cpu_cycles = 65: expected less than or equal to 64"),
        ('"memory_limit": "384M",', '"memory_limit": "lots",', "supervision.memory_limit = 'lots': expected a size"),
        ('"cpu_percent": 40,', '"cpu_percent": 0,', "supervision.cpu_percent = 0: expected greater than 0"),
        ('"pidfile": "/run/php/php8.2-fpm.pid",', '"match": "php-fpm: \\"master\\"",',
         "supervision.match = 'php-fpm: \"master\"': expected a regular expression"),
        ('"pidfile": "/run/php/php8.2-fpm.pid",', '"match": "php-fpm: (master",', "expected a regular expression"),
    ],
)
def test_bad_supervision_values(project_copy, old, new, expected):
    edit(project_copy / "group_data/web.py", old, new)
    message = settings_error()
    assert "group_data/web.py: " in message and expected in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"cpu_percent": 40,', '"cpu_percent": 100,',
         "supervision.cpu_percent = 100.0: expected less than CPUQuota of slice web (100%): Monit's total cpu never"),
        ('"memory_limit": "384M",', '"memory_limit": "512M",',
         "supervision.memory_limit = 536870912: expected less than MemoryMax of slice web (536870912): the OOM killer"),
    ],
)
def test_a_rule_its_slice_makes_unreachable(project_copy, old, new, expected):
    edit(project_copy / "group_data/web.py", old, new)
    assert f"group_data/web.py: services.php-fpm.{expected}" in settings_error()


def test_an_escalation_tier_that_does_not_exist(project_copy):
    edit(project_copy / "group_data/lab.py", '"cycle": "5s",', '"cycle": "5s", "escalation_tier": "tier9",')
    assert ("group_data/lab.py: monit.escalation_tier = 'tier9': expected a key of escalation.tiers (by name) "
            "(tier1, tier2)") in settings_error()


def test_relay_login_comes_from_the_environment(prod, monkeypatch):
    monkeypatch.setenv("HOLDFAST_SMTP_USER", "alerts")
    monkeypatch.setenv("HOLDFAST_SMTP_PASSWORD", "from-the-environment")
    assert prod["web1.example.com"].mail.credentials() == ("alerts", "from-the-environment")


def relay_login_error(environ: dict) -> str:
    """The error monit.relay_login raises while pyinfra prepares web1 of production."""
    inventory = read_inventory("inventories/prod.py")
    web = inventory.get_host("web1.example.com")
    with ctx_inventory.use(inventory), ctx_host.use(web), pytest.raises(loading.SettingsError) as raised:
        monit.relay_login(loading.load(inventory)[web.name], environ)
    return str(raised.value)


def test_a_missing_relay_password_names_its_file_and_key(monkeypatch):
    monkeypatch.chdir(FLEET)
    assert ("group_data/all.py: mail.password_env = 'HOLDFAST_SMTP_PASSWORD': expected a variable set in the "
            "deploy's environment (the relay login comes from the environment, never from group_data)"
            ) in relay_login_error({"HOLDFAST_SMTP_USER": "alerts"})


def test_the_relay_login_is_read_from_the_environment_it_is_given(prod, monkeypatch):
    for variable in FAKE_SMTP_ENV:
        monkeypatch.delenv(variable, raising=False)
    assert monit.relay_login(prod["web1.example.com"], FAKE_SMTP_ENV) == ("alerts", "fake-pw")


def test_implicit_tls_is_refused_for_monit(project_copy):
    edit(project_copy / "group_data/all.py", '"security": "starttls"', '"security": "tls"')
    assert ("group_data/all.py: mail.security = 'tls': Monit 5.33 cannot send over implicit TLS (port 465); "
            "expected 'starttls' with the relay's submission port (587)") in relay_login_error(FAKE_SMTP_ENV)


def test_a_login_monit_cannot_quote_is_refused_without_showing_it(monkeypatch):
    monkeypatch.chdir(FLEET)
    message = relay_login_error({**FAKE_SMTP_ENV, "HOLDFAST_SMTP_PASSWORD": 'pass"word'})
    assert ("group_data/all.py: mail.password_env = 'HOLDFAST_SMTP_PASSWORD': expected a value without '\"' in "
            "that variable: Monit cannot quote it") in message
    assert 'pass"word' not in message


# --- rendering ---------------------------------------------------------------------------


def test_every_file_is_root_only(prod):
    assert {file.mode for file in monit.config_files(prod["web1.example.com"], None)} == {"600"}


def test_production_relay_login_and_verified_starttls(prod):
    monitrc = files_of(prod["web1.example.com"], ("alerts", "pw-from-env"))[monit.CONTROL_FILE]
    assert 'set mailserver smtp.example.com port 587\n    username "alerts" password "pw-from-env"\n' \
           "    using ssl with options { verify: enable }\n" in monitrc


def test_lab_relay_is_plain_smtp_without_login(lab):
    monitrc = files_of(lab["web1"])[monit.CONTROL_FILE]
    assert "set mailserver mon1 port 25\nset mail-format" in monitrc


def test_first_tier_gets_every_alert(prod):
    monitrc = files_of(prod["web1.example.com"])[monit.CONTROL_FILE]
    assert re.findall(r"^set alert (\S+)$", monitrc, re.M) == ["alice@example.com", "bob@example.com"]


def test_second_tier_gets_restart_loops_of_every_process(prod):
    host_settings = prod["web1.example.com"]
    files = files_of(host_settings)
    local = {
        check.name: re.findall(r"^    alert (\S+) only on \{ timeout \}$", files[f"{monit.CHECKS_DIR}/holdfast-{check.name}.conf"], re.M)
        for check in monit.process_checks(host_settings)
    }
    assert local == {name: ["carol@example.com", "oncall@acme-hosting.example"] for name in local}


def test_a_contact_in_both_tiers_keeps_every_alert(project_copy):
    edit(project_copy / "group_data/all.py", '"members": ["carol", "acme"]', '"members": ["carol", "acme", "alice"]')
    php = files_of(load_settings("inventories/prod.py")["web1.example.com"])[f"{monit.CHECKS_DIR}/holdfast-php-fpm.conf"]
    assert "alice@example.com" not in php  # a local alert would narrow alice to timeouts only


def test_a_restart_loop_never_stops_monitoring(prod):
    everything = "\n".join(files_of(prod["web1.example.com"]).values())
    checks = monit.process_checks(prod["web1.example.com"])
    assert re.findall(r"restarts within \d+ cycles then (\w+)", everything) == ["alert"] * len(checks)
    assert not re.search(r"then (timeout|unmonitor|stop)\b", everything)


def test_a_service_probe_speaks_its_protocol_and_restarts(prod):
    mariadb = files_of(prod["web1.example.com"])[f"{monit.CHECKS_DIR}/holdfast-mariadb.conf"]
    rules = prod["web1.example.com"].services["mariadb"].supervision
    assert (
        "    if failed unixsocket /run/mysqld/mysqld.sock\n        protocol mysql\n"
        f"        with timeout {rules.health_timeout} seconds\n        for {rules.health_cycles} cycles\n    then restart"
    ) in mariadb


def test_processes_are_started_stopped_and_restarted_through_systemctl(prod):
    for check in monit.process_checks(prod["web1.example.com"]):
        text = files_of(prod["web1.example.com"])[f"{monit.CHECKS_DIR}/holdfast-{check.name}.conf"]
        programs = re.findall(r'^    (start|stop|restart) program = "(.*?)"', text, re.M)
        assert programs == [(action, f"/bin/systemctl {action} {check.unit}") for action in ("start", "stop", "restart")]


def system_checks(host_settings) -> dict[str, tuple]:
    """Each process check of a host: its unit, pid file, and probes (target, cycles, protocol)."""
    return {check.name: (check.unit, check.supervision.pidfile,
                         [(probe.target, probe.cycles, probe.protocol) for probe in check.probes])
            for check in monit.process_checks(host_settings)}


def test_every_host_supervises_sshd_over_its_protocol_and_cron(prod):
    assert system_checks(prod["mon1.example.net"]) == {
        "sshd": ("ssh.service", "/run/sshd.pid", [("host 127.0.0.1 port 22", 1, "ssh")]),
        "cron": ("cron.service", "/run/crond.pid", []),
    }
    sshd = files_of(prod["mon1.example.net"])[f"{monit.CHECKS_DIR}/holdfast-sshd.conf"]
    assert "check process sshd with pidfile /run/sshd.pid\n" in sshd
    assert "    if failed host 127.0.0.1 port 22\n        protocol ssh\n" in sshd


def test_nginx_restarts_after_one_failed_connection_and_keepalived_is_watched_where_failover_is_on(lab):
    checks = system_checks(lab["web1"])
    assert checks["nginx"] == ("nginx.service", "/run/nginx.pid", [("host 127.0.0.1 port 80", 1, None)])
    assert checks["keepalived"] == ("keepalived.service", "/run/keepalived.pid", [])


@pytest.mark.parametrize("name", ["sshd", "cron", "nginx", "keepalived"])
def test_a_declared_service_replaces_the_system_check_of_its_name(lab, name):
    host_settings = lab["web1"]
    own = host_settings.services["php-fpm"].model_copy(update={"unit": f"own-{name}.service"})
    declared = host_settings.model_copy(update={"services": {**host_settings.services, name: own}})
    assert [check.unit for check in monit.process_checks(declared) if check.name == name] == [f"own-{name}.service"]


def test_web_hosts_check_each_service_nginx_and_site_and_the_monitor_host_does_not(prod):
    web = set(files_of(prod["web1.example.com"]))
    monitor = set(files_of(prod["mon1.example.net"]))
    specific = {f"{monit.CHECKS_DIR}/holdfast-{name}.conf" for name in ("php-fpm", "nginx", "site-shop")}
    assert (specific <= web, specific & monitor) == (True, set())


def test_fastcgi_service_is_probed_at_its_socket_and_through_nginx(prod):
    [php] = [check for check in monit.process_checks(prod["web1.example.com"]) if check.name == "php-fpm"]
    cycles = php.supervision.health_cycles
    assert [(probe.target, probe.protocol, probe.path, probe.cycles) for probe in php.probes] == [
        ("unixsocket /run/php/php8.2-fpm.sock", None, "/", cycles),
        ("host 127.0.0.1 port 443", "https", "/health", cycles),  # the sample site has tls: port 80 redirects
    ]


def test_a_site_without_tls_is_asked_through_nginx_on_port_80(prod):
    host_settings = prod["web1.example.com"]
    sites = {"shop": host_settings.sites["shop"].model_copy(update={"tls": None})}
    probes = monit._health_probes("php-fpm", host_settings.services["php-fpm"].supervision, sites)
    assert [(probe.target, probe.protocol) for probe in probes] == [
        ("unixsocket /run/php/php8.2-fpm.sock", None), ("host 127.0.0.1 port 80", "http")]


def test_a_service_is_probed_for_every_site_it_serves_not_only_the_first(prod):
    host_settings = prod["web1.example.com"]
    shop = host_settings.sites["shop"]
    other = shop.model_copy(update={"backend": shop.backend.model_copy(update={"service": "mariadb"})})
    probes = monit._health_probes("php-fpm", host_settings.services["php-fpm"].supervision,
                                  {"other": other, "shop": shop})
    assert [probe.target for probe in probes] == ["unixsocket /run/php/php8.2-fpm.sock", "host 127.0.0.1 port 443"]


@pytest.mark.parametrize(("address", "target"), [
    ("unix:/run/app.sock", "unixsocket /run/app.sock"),
    ("127.0.0.1:8080", "host 127.0.0.1 port 8080"),
    ("[::1]:9000", "host ::1 port 9000"),
])
def test_monit_connection_targets(address, target):
    assert monit._target(address) == target


def test_proxy_service_is_asked_for_its_health_page_directly(prod):
    host_settings = prod["web1.example.com"]
    shop = host_settings.sites["shop"]
    backend = shop.backend.model_copy(update={"kind": "proxy", "address": "127.0.0.1:8080"})
    sites = {"shop": shop.model_copy(update={"backend": backend})}
    [probe] = monit._health_probes("php-fpm", host_settings.services["php-fpm"].supervision, sites)
    assert (probe.target, probe.protocol, probe.host_header, probe.expect, probe.cycles) == (
        "host 127.0.0.1 port 8080", "http", "shop.example.com", "OK",
        host_settings.services["php-fpm"].supervision.health_cycles)


def test_runaway_and_memory_rules_count_the_process_tree(prod):
    php = files_of(prod["web1.example.com"])[f"{monit.CHECKS_DIR}/holdfast-php-fpm.conf"]
    assert ("if totalcpu > 40.0% for 3 times within 3 cycles then restart" in php
            and "if totalmem > 393216 kB for 2 cycles then restart" in php)


def test_site_is_checked_end_to_end_through_nginx_by_its_name(prod):
    site = files_of(prod["web1.example.com"])[f"{monit.CHECKS_DIR}/holdfast-site-shop.conf"]
    assert ('if failed port 443\n        protocol https with http headers [Host: shop.example.com]\n'
            '        request "/" with content = "Welcome to the shop"') in site


def test_site_check_is_named_after_its_site(prod):
    site = files_of(prod["web1.example.com"])[f"{monit.CHECKS_DIR}/holdfast-site-shop.conf"]
    assert "check host site-shop with address 127.0.0.1\n" in site


def test_the_web_interface_allows_only_the_generated_credentials(prod):
    monitrc = files_of(prod["web1.example.com"])[monit.CONTROL_FILE]
    assert f"and use address 127.0.0.1\n    allow {monit.HTTPD_USERS}\n" in monitrc


def test_site_certificate_validity_is_checked(prod):
    site = files_of(prod["web1.example.com"])[f"{monit.CHECKS_DIR}/holdfast-site-shop.conf"]
    assert 'with content = "Welcome to the shop"\n        and certificate valid > 14 days\n' in site


@pytest.mark.parametrize(
    "text", ["Welcome to the shop", "Price: $5 (incl. VAT) [new]*", "50% off + free {shipping}? ^_^ | a\\b"]
)
def test_expected_text_is_matched_literally(text):
    pattern = monit.monit_regex(text)
    assert re.fullmatch(pattern, text) and '"' not in pattern


def test_a_double_quote_in_expected_text_matches_any_character():
    assert monit.monit_regex('say "hi"') == "say .hi."


@pytest.mark.parametrize(("path", "name"), [("/", "fs-root"), ("/var/lib", "fs-var-lib"), ("/srv/X", "fs-srv-X")])
def test_filesystem_check_names(path, name):
    assert monit.filesystem_check_name(path) == name


def test_requests_php_fpm_killed_are_alerted_not_restarted(prod):
    """A loop PHP-FPM kills at its timeout never reaches Monit's CPU rule (production's cycle
    is longer than the timeout): the kill itself is alerted, naming the slow log."""
    timeouts = files_of(prod["web1.example.com"])["/etc/monit/conf.d/holdfast-php-fpm-timeouts.conf"]
    assert "check file php-fpm-timeouts with path /var/log/php8.2-fpm.log\n" in timeouts
    assert "killed a request of pool php-fpm that ran past" in timeouts
    assert 'if content = "\\[pool php-fpm\\] .*execution timed out" then alert\n' in timeouts
    assert "/var/log/php8.2-fpm/php-fpm.slow.log" in timeouts and "then restart" not in timeouts


def test_an_event_sent_to_alertmanager_lasts_ten_monit_cycles(prod):
    script = monit.event_script(prod["web1.example.com"], ["http://mon1:9099/alerts"]).content
    assert f"timedelta(seconds={10 * prod['web1.example.com'].monit.cycle})" in script
