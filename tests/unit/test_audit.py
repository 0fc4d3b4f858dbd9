"""The single-point-of-failure audit: every rule passes on the sample data and fails on
a case made to break it, with a message naming what is wrong."""

import logging
import re
import subprocess

import pytest

from holdfast import audit, loading, monit, monitoring
from holdfast.facts import Listener
from holdfast.inventory import read_inventory
from holdfast.providers.model import recipients
from tests.conftest import FAKE_DEPLOY_ENV, FLEET, append, edit, fleet_settings, load_settings, settings_error


def findings(inventory="inventories/lab.py"):
    return audit.inventory_findings(audit.Estate.of(read_inventory(inventory)))


def rules_failing(inventory="inventories/lab.py") -> set[str]:
    return {finding.rule for finding in findings(inventory)}


def only_finding(rule: str) -> audit.Finding:
    """The one finding of ``rule`` on the lab inventory of the project under test."""
    [finding] = [f for f in findings() if f.rule == rule]
    return finding


@pytest.mark.parametrize("inventory", ["inventories/lab.py", "inventories/prod.py"])
def test_the_sample_plan_passes_every_inventory_rule(inventory, monkeypatch):
    monkeypatch.chdir(FLEET)
    assert [f for f in findings(inventory) if f.severity == "error"] == []


def test_one_person_in_a_tier_fails_naming_the_tier(project_copy):
    edit(project_copy / "group_data/all.py", '"members": ["carol", "acme"]', '"members": ["acme"]')
    finding = only_finding("tier-members")
    assert finding.subject == "tier tier2" and finding.severity == "error"


def test_a_channel_some_member_cannot_be_reached_on(project_copy):
    edit(project_copy / "group_data/all.py", '"chat": "@bob:example.com",', "")
    finding = only_finding("tier-channels")
    assert finding.subject == "tier tier1" and "bob has no chat" in finding.message


def test_a_single_channel_type(project_copy):
    edit(project_copy / "group_data/all.py", '"channels": ["email", "chat"]', '"channels": ["email"]')
    edit(project_copy / "group_data/all.py", '"channels": ["email", "phone"]', '"channels": ["email"]')
    assert "channel-types" in rules_failing()


def test_no_outsider_in_the_last_tier(project_copy):
    edit(project_copy / "group_data/all.py", '"internal": False,', "")
    finding = only_finding("external-contact")
    assert finding.subject == "tier tier2"


def test_monitor_hosted_only_on_a_watched_box(project_copy):
    (project_copy / "inventories/lab.py").write_text(
        "from lab.topology import LAB\n"
        "web = LAB.inventory_group('web')\n"
        "monitors = LAB.inventory_group('web')\n"
    )
    assert "monitor-placement" in rules_failing()


def test_mail_relay_on_a_watched_host(project_copy):
    edit(project_copy / "group_data/lab.py", '"relay": "mon1"', '"relay": "web1"')
    finding = only_finding("relay-placement")
    assert finding.subject == "mail relay web1"


def test_a_site_on_two_hosts_with_a_service_address_passes(monkeypatch):
    monkeypatch.chdir(FLEET)
    assert "single-host-site" not in rules_failing()


def test_a_site_on_one_host_is_an_error(project_copy):
    (project_copy / "inventories/lab.py").write_text(  # failover off: it is refused for one host
        "from lab.topology import LAB\nweb = LAB.inventory_group('web')[:1]\nmonitors = LAB.inventory_group('monitors')\n"
    )
    append(project_copy / "group_data/lab.py", "failover['enabled'] = False")
    finding = only_finding("single-host-site")
    assert (finding.severity, finding.subject) == ("error", "site shop")
    assert "served by one host (web1)" in finding.message


def test_a_site_on_two_hosts_without_a_service_address_is_a_warning(project_copy):
    append(project_copy / "group_data/lab.py", "failover['sites'] = {}")
    finding = only_finding("single-host-site")
    assert finding.severity == "warning" and "served by web1, web2 but without a service address" in finding.message


def test_a_site_on_one_host_can_be_acknowledged(project_copy):
    (project_copy / "inventories/lab.py").write_text(
        "from lab.topology import LAB\nweb = LAB.inventory_group('web')[:1]\nmonitors = LAB.inventory_group('monitors')\n"
    )
    append(project_copy / "group_data/lab.py", "failover['enabled'] = False")
    append(project_copy / "group_data/lab.py",
           "audit['acknowledged']['single-host-site'] = 'a brochure site, rebuilt from the repository in minutes'")
    estate = audit.Estate.of(read_inventory("inventories/lab.py"))
    assert audit.unacknowledged(audit.inventory_findings(estate), estate.settings.values()) == []


def test_a_replicated_database_passes(monkeypatch):
    monkeypatch.chdir(FLEET)
    assert "database-without-replica" not in rules_failing()


def test_a_database_without_a_replica_is_a_warning_naming_each_host(project_copy):
    append(project_copy / "group_data/lab.py", "failover['database'] = None")
    found = [f for f in findings() if f.rule == "database-without-replica"]
    assert [(f.severity, f.subject) for f in found] == [("warning", "host web1"), ("warning", "host web2")]
    assert "its database has no replica (failover.database)" in found[0].message


def test_a_database_without_a_replica_can_be_acknowledged(project_copy):
    append(project_copy / "group_data/lab.py", "failover['database'] = None")
    append(project_copy / "group_data/lab.py",
           "audit['acknowledged']['database-without-replica'] = 'a nightly dump to another provider is enough'")
    estate = audit.Estate.of(read_inventory("inventories/lab.py"))
    assert audit.unacknowledged(audit.inventory_findings(estate), estate.settings.values()) == []


def test_a_lone_monitor_or_relay_needs_a_hosted_heartbeat(monkeypatch):
    monkeypatch.chdir(FLEET)
    monkeypatch.delenv("HOLDFAST_HEALTHCHECKS_PING_KEY", raising=False)
    # The production sample: one monitor host, no Watchdog heartbeat; the relay is not a host of it.
    (finding,) = [f for f in findings("inventories/prod.py") if f.rule == "hosted-heartbeat"]
    assert (finding.severity, finding.subject) == ("warning", "host mon1.example.net")
    assert finding.message == (
        "the only monitor host, with no heartbeat (HOLDFAST_HEALTHCHECKS_PING_KEY is not in the deploy's "
        "environment) and no monitoring.watchdog_url: when it dies, no alert goes out and nobody outside hears of it")
    # The heartbeat the deploy installs with the ping key answers it.
    monkeypatch.setenv("HOLDFAST_HEALTHCHECKS_PING_KEY", "k")
    assert "hosted-heartbeat" not in rules_failing("inventories/prod.py")


def test_the_watchdog_heartbeat_answers_for_the_lab_s_monitor_and_relay(monkeypatch):
    monkeypatch.chdir(FLEET)
    monkeypatch.delenv("HOLDFAST_LAB_PING_KEY", raising=False)
    assert "hosted-heartbeat" not in rules_failing()


def test_without_the_watchdog_the_lab_s_monitor_and_relay_is_found(project_copy, monkeypatch):
    monkeypatch.delenv("HOLDFAST_LAB_PING_KEY", raising=False)
    append(project_copy / "group_data/lab.py", 'monitoring["watchdog_url"] = None')
    finding = only_finding("hosted-heartbeat")
    assert finding.subject == "host mon1" and finding.message.startswith("the only monitor host and the mail relay, ")


def test_a_relay_named_by_its_address_is_the_host_s(monkeypatch):
    monkeypatch.chdir(FLEET)
    estate = audit.Estate.of(read_inventory("inventories/lab.py"))
    relay_by_address = {name: s.model_copy(update={"mail": s.mail.model_copy(update={"relay": estate.addresses["mon1"]}),
                                                   "monitoring": s.monitoring.model_copy(update={"watchdog_url": None})})
                        for name, s in estate.settings.items()}
    found = audit.inventory_findings(audit.Estate(relay_by_address, estate.groups, estate.addresses, estate.project,
                                                  {}))
    (finding,) = [f for f in found if f.rule == "hosted-heartbeat"]
    assert finding.subject == "host mon1" and finding.message.startswith("the only monitor host and the mail relay, ")


def test_a_secret_in_a_tracked_file(project_copy):
    planted = "password" + ' = "' + "hunter2" * 2 + '"\n'
    append(project_copy / "group_data/web.py", "_" + planted)
    finding = only_finding("tracked-secrets")
    assert finding.subject.startswith("group_data/web.py:")


@pytest.mark.parametrize(("line", "secret"), [
    ("-----BEGIN " + "OPENSSH PRIVATE KEY-----", True),  # split: this file is tracked too
    ("-----BEGIN " + "PRIVATE KEY-----", True),
    ("-----BEGIN CERTIFICATE-----", False),
    ('password = "HOLDFAST_SMTP_PASSWORD"', False),
    ('password = "' + "correct-horse" + '"', True),
])
def test_a_private_key_or_a_secret_value_is_a_secret(line, secret):
    assert audit._holds_secret(line) is secret


def test_environment_variable_names_are_not_secrets(project_copy):
    append(project_copy / "group_data/web.py", '_token_env = {"api_key": "${HOLDFAST_API_KEY}"}')
    assert "tracked-secrets" not in rules_failing()


def lab_settings(host="web1"):
    return fleet_settings()[host]


def host_rule_findings(rule, host_settings=None, monitors=None, **facts) -> list[audit.Finding]:
    """What one host rule finds on web1 of the lab with ``facts`` (good ones by default)."""
    facts = {"admin_keys": 2, "units": {}, "allow_listed": None, **facts}
    found = audit.HOST_RULES[rule](host_settings or lab_settings(), audit.HostFacts("web1", **facts),
                                   monitors or {})
    return list(found)


@pytest.mark.parametrize(("keys", "failing"), [(1, True), (2, False)])
def test_admin_keys(keys, failing):
    assert bool(host_rule_findings("admin-keys", admin_keys=keys)) is failing


PHP_FPM = "php8.2-fpm.service"


def policy(restart="no", burst="5", interval="10s"):
    return {PHP_FPM: {"Id": PHP_FPM, "LoadState": "loaded", "Restart": restart, "StartLimitBurst": burst,
                      "StartLimitIntervalUSec": interval}}


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        (policy(), set()),
        (policy(restart="on-failure"), {"warning"}),
        (policy(burst="2", interval="1min"), {"error"}),
        ({}, set()),  # not installed: nothing to compare
    ],
    ids=["systemd-leaves-it-to-monit", "both-restart", "start-limit-locks-monit-out", "not-installed"],
)
def test_supervisor_conflict(units, expected):
    assert {finding.severity for finding in host_rule_findings("supervisor-conflict", units=units)} == expected


@pytest.mark.parametrize(("allow_listed", "failing"), [(["127.0.0.0/8", "10.123.0.10/32"], False),
                                                       (["127.0.0.0/8"], True), (None, False)])
def test_monitors_allow_listed(allow_listed, failing):
    found = host_rule_findings("monitors-allow-listed", monitors={"mon1": ["10.123.0.10"]}, allow_listed=allow_listed)
    assert bool(found) is failing


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [(None, "has no request timeout of its own"), ('"30s"', "keeps working 20s after"), ('"5s"', None),
     ("pool", None)],
    ids=["unknown", "longer-than-nginx", "shorter", "php-fpm-pool"],
)
def test_edge_timeouts(project_copy, timeout, expected):
    if timeout != "pool":  # the sample's pool (php_fpm) has its own request_terminate_timeout
        append(project_copy / "group_data/web.py",
               f'services["php-fpm"].pop("php_fpm")\nservices["php-fpm"]["request_timeout"] = {timeout}')
    found = [f for f in findings() if f.rule == "edge-timeouts"]
    assert [expected in f.message for f in found] == ([True] if expected else [])


def test_errors_block_unless_every_host_acknowledges(monkeypatch):
    monkeypatch.chdir(FLEET)
    lab, prod = load_settings(), load_settings("inventories/prod.py")
    finding = host_rule_findings("admin-keys", admin_keys=1)[0]
    assert audit.unacknowledged([finding], lab.values()) == []
    assert audit.unacknowledged([finding], prod.values()) == [finding]
    with pytest.raises(audit.AuditError, match="admin-keys"):
        audit.report([finding], list(prod.values()))


def test_the_report_logs_each_finding_and_names_what_blocks(monkeypatch, caplog):
    monkeypatch.chdir(FLEET)
    lab, prod = load_settings(), load_settings("inventories/prod.py")
    error = host_rule_findings("admin-keys", admin_keys=1)[0]
    warning = audit.Finding("supervisor-conflict", "warning", "service x", "a warning")
    with caplog.at_level(logging.INFO, logger="pyinfra"):
        audit.report([error, warning], list(lab.values()))
    reason = lab["web1"].audit.acknowledged["admin-keys"]
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("INFO", f"    audit, acknowledged ({reason}): {error}"), ("WARNING", f"    audit {warning}")]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pyinfra"), pytest.raises(audit.AuditError) as raised:
        audit.report([error], list(prod.values()))
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [("WARNING", f"    audit {error}")]
    assert str(raised.value) == (
        f"the single-point-of-failure audit failed, nothing was changed on any host:\n  {error}\n"
        "Fix them, or acknowledge a rule in group_data: audit = {'acknowledged': {'<rule>': '<the reason it is accepted>'}}")


def test_the_report_gives_every_reason_and_every_blocking_finding(monkeypatch, caplog):
    monkeypatch.chdir(FLEET)
    lab = load_settings()
    error = host_rule_findings("admin-keys", admin_keys=1)[0]
    other = audit.Finding("tier-members", "error", "tier first", "only alice")
    web1, web2 = lab["web1"], lab["web2"]
    differing = [web1, web2.model_copy(update={"audit": web2.audit.model_copy(
        update={"acknowledged": {**web2.audit.acknowledged, "admin-keys": "web2's own reason"}})})]
    with caplog.at_level(logging.INFO, logger="pyinfra"), pytest.raises(audit.AuditError) as raised:
        audit.report([error, other], differing)
    reasons = " / ".join(sorted([web1.audit.acknowledged["admin-keys"], "web2's own reason"]))
    assert caplog.records[0].getMessage() == f"    audit, acknowledged ({reasons}): {error}"
    assert f"on any host:\n  {other}\nFix them" in str(raised.value)
    with pytest.raises(audit.AuditError) as raised:
        audit.report([error, other], list(load_settings("inventories/prod.py").values()))
    assert f"on any host:\n  {error}\n  {other}\nFix them" in str(raised.value)


@pytest.mark.parametrize(("timespan", "seconds"), [
    ("10s", 10), ("1min 30s", 90), ("100ms", 0.1), ("500us", 0.0005), ("1.5s", 1.5), ("2h", 7200), ("1d", 86400),
    ("0", 0), ("infinity", float("inf")),
])
def test_systemds_time_spans_in_seconds(timespan, seconds):
    assert audit._seconds(timespan) == pytest.approx(seconds)


def test_the_secret_rule_reads_what_git_tracks_or_else_every_file_but_tool_caches(tmp_path):
    for name in ("kept.py", "sub/data.txt", ".git/config", ".venv/lib.py", "__pycache__/a.pyc", ".pytest_cache/b"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert sorted(audit._tracked_files(tmp_path)) == [tmp_path / "kept.py", tmp_path / "sub/data.txt"]
    (tmp_path / ".git/config").unlink()
    (tmp_path / ".git").rmdir()
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "kept.py"], cwd=tmp_path, check=True)
    assert audit._tracked_files(tmp_path) == [tmp_path / "kept.py"]


def test_acknowledging_an_unknown_rule_is_a_settings_error(project_copy):
    edit(project_copy / "group_data/lab.py", '"admin-keys":', '"admin-key":')
    with pytest.raises(loading.SettingsError) as raised:
        findings()
    assert str(raised.value).startswith(
        "invalid group_data, nothing was changed on any host:\n"
        "  group_data/lab.py: audit.acknowledged = 'admin-key': expected a rule of the audit (admin-keys, "
    ) and "did you mean 'admin-keys'?" in str(raised.value)


def test_an_unknown_rule_like_no_other_gets_no_guess(project_copy):
    edit(project_copy / "group_data/lab.py", '"admin-keys":', '"zzzz":')
    known = ", ".join(sorted(audit.RULES | audit.HOST_RULES))
    with pytest.raises(loading.SettingsError) as raised:
        findings()
    assert f"audit.acknowledged = 'zzzz': expected a rule of the audit ({known})\n" in str(raised.value) + "\n"


def test_a_group_the_inventory_lacks_has_no_hosts(monkeypatch):
    monkeypatch.chdir(FLEET)
    estate = audit.Estate.of(read_inventory("inventories/lab.py"))
    assert estate.group("web") == ["web1", "web2"] and estate.group("databases") == []


def test_an_acknowledgement_needs_a_reason(project_copy):
    edit(project_copy / "group_data/lab.py", '"lab hosts are throwaway; they are reached only with the key the lab generates"', '"ok"')
    assert "audit.acknowledged.admin-keys = 'ok'" in settings_error()


def test_recipients_everywhere_are_exactly_the_plans_contacts(monkeypatch):
    """Monit's alerts, Alertmanager's receivers and the hosted monitors' contacts all come
    from the escalation plan: the same people, no one missing, no one extra."""
    monkeypatch.chdir(FLEET)
    fleet = load_settings("inventories/prod.py")
    web, monitor = fleet["web1.example.com"], fleet["mon1.example.net"]
    plan = {contact.email for contact in web.escalation.contacts.values()}
    monit_text = "".join(file.content for file in monit.config_files(web, None))
    alertmanager_text = "".join(file.content for file in monitoring.alertmanager_files(
        monitor, environ=FAKE_DEPLOY_ENV))
    found = {
        "monit": set(re.findall(r"^\s*(?:set )?alert (\S+@\S+)", monit_text, flags=re.MULTILINE)),
        "alertmanager": {address.strip() for line in re.findall(r"- to: \"([^\"]+)\"", alertmanager_text)
                         for address in line.split(",")},
        "hosted monitors": {recipient.address for recipient in recipients(web.escalation)
                            if recipient.channel == "email"},
    }
    assert found == dict.fromkeys(found, plan)


def listener(port: int, address: str = "0.0.0.0", protocol: str = "tcp", process: str = "daemon") -> Listener:
    return Listener(protocol, address, port, process)


@pytest.mark.parametrize(
    ("listening", "expected"),
    [
        ([listener(22, "::", process="sshd"), listener(80, "*"), listener(9100, "*"), listener(2812, "127.0.0.1"),
          listener(53, "::ffff:127.0.0.1", "udp")], []),
        ([listener(8080, process="python3")], ["python3 listens on tcp port 8080 of address 0.0.0.0"]),
        ([listener(9100, protocol="udp")], ["daemon listens on udp port 9100"]),
        ([listener(5432, "10.123.0.11", process="postgres")], ["postgres listens on tcp port 5432"]),
    ],
    ids=["policy-covers-all", "unmentioned-port", "other-protocol", "one-address"],
)
def test_exposure(listening, expected):
    found = host_rule_findings("exposure", monitors={"mon1": ["10.123.0.10"]}, listening=listening)
    assert [finding.severity for finding in found] == ["warning"] * len(expected)
    for finding, text in zip(found, expected, strict=True):
        assert text in finding.message and "the firewall policy does not mention" in finding.message
