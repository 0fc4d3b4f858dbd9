"""`holdfast status`: what the hosts print is read right, and the screen says what matters."""

import json

from holdfast import loading, monit, monitoring, status
from holdfast.inventory import address_of, read_inventory
from holdfast.safe_config import ConfigFile
from tests.conftest import FLEET

MONIT = """\
Monit 5.33.0 uptime: 3m
 Service Name                     Status                      Type
 web1                             OK                          System
 php8.2-fpm                       Does not exist              Process
 nginx                            OK                          Process
"""

SLICES = """\
Id=holdfast-web.slice
MemoryCurrent=73400320
MemoryMax=536870912
CPUUsageNSec=[not set]
CPUQuotaPerSecUSec=1s
TasksCurrent=7
TasksMax=200

Id=holdfast-critical.slice
MemoryCurrent=[not set]
MemoryMax=infinity
CPUUsageNSec=2500000000
CPUQuotaPerSecUSec=infinity
TasksCurrent=12
TasksMax=18446744073709551615
"""

ALERTS = [
    {"labels": {"alertname": "Watchdog"}, "status": {"state": "active"}, "startsAt": "t0", "annotations": {}},
    {"labels": {"alertname": "SiteDown", "host": "web1", "tier": "tier1"}, "status": {"state": "suppressed"},
     "startsAt": "2026-11-27T13:00:00Z", "annotations": {"summary": "shop on web1 is down"}},
]
SILENCES = [
    {"id": "a", "matchers": [{"name": "host", "value": "web1", "isRegex": False}], "endsAt": "2026-11-27T13:30:00Z",
     "createdBy": "holdfast maintenance", "comment": "kernel update", "status": {"state": "active"}},
    {"id": "b", "matchers": [{"name": "host", "value": "web2", "isRegex": False}], "endsAt": "2026-11-27T10:00:00Z",
     "createdBy": "x", "comment": "old", "status": {"state": "expired"}},
]


def test_sections_split_the_batched_output():
    output = f"{status.SECTION_MARK}monit\nline 1\nline 2\n{status.SECTION_MARK}memory\n1024\n"
    assert status.sections(output) == {"monit": "line 1\nline 2", "memory": "1024"}


def test_monit_summary_reads_each_check_and_its_status():
    assert status.monit_summary(MONIT) == {"web1": "OK", "php8.2-fpm": "Does not exist", "nginx": "OK"}


def test_slice_use_reads_systemd_accounting_and_limits():
    web, critical = status.slice_use(SLICES)
    assert web == status.SliceUse("holdfast-web.slice", 73400320, 536870912, None, 100.0, 7, 200)
    assert critical == status.SliceUse("holdfast-critical.slice", None, None, 2.5, None, 12, None)


def test_drift_names_content_mode_and_missing_files():
    same, changed, loosened, absent = (ConfigFile(f"/etc/{n}", n, mode="600") for n in "abcd")
    stat_text = "600 root root /etc/a\n600 root root /etc/b\n644 root root /etc/c\n"
    sha1_text = f"{same.sha1}  /etc/a\n{'0' * 40}  /etc/b\n{loosened.sha1}  /etc/c\n"
    found = status.drift([same, changed, loosened, absent], stat_text, sha1_text, ["heartbeat: no key"])
    assert found == status.Drift(4, ["/etc/b: content", "/etc/c: 644 root:root, wanted 600 root:root"], ["/etc/d"],
                                 ["heartbeat: no key"])


def test_alerts_leave_out_the_watchdog_and_silences_the_expired():
    (alert,) = status.alerts(json.dumps(ALERTS))
    assert (alert.name, alert.host, alert.tier, alert.state) == ("SiteDown", "web1", "tier1", "suppressed")
    (silence,) = status.silences(json.dumps(SILENCES))
    assert (silence.matchers, silence.comment) == ("host=web1", "kernel update")


def test_certificates_by_path():
    text = "/etc/ssl/shop.pem notAfter=Feb 25 12:00:00 2027 GMT\n/etc/ssl/gone.pem Could not open file\n"
    assert status.certificates(text) == {"/etc/ssl/shop.pem": "Feb 25 12:00:00 2027 GMT",
                                         "/etc/ssl/gone.pem": "Could not open file"}


def test_the_script_asks_alertmanager_on_the_monitor_host_only():
    web = status.host_script(["/etc/a b"], ["holdfast-web.slice"], monitor=False)
    monitor = status.host_script([], [], monitor=True)
    assert "'/etc/a b'" in web and "holdfast-web.slice" in web and "api/v2/alerts" not in web
    assert "api/v2/alerts" in monitor and "api/v2/silences" in monitor and "systemctl show" not in monitor


def fleet() -> status.Fleet:
    web1 = status.HostStatus("web1", monit=status.monit_summary(MONIT), slices=status.slice_use(SLICES),
                             drift=status.Drift(3, ["/etc/nginx/nginx.conf: content"], [], []))
    return status.Fleet(
        "inventories/lab.py", 1.23, [web1, status.HostStatus("web2", error="Connection refused")],
        alerts=status.alerts(json.dumps(ALERTS)), silences=status.silences(json.dumps(SILENCES)),
        hosted=["UptimeRobot: skipped, HOLDFAST_UPTIMEROBOT_API_KEY is not set"],
        findings=["warning: [edge-timeouts] web1: no timeout"],
    )


def test_the_screen_shows_the_faults_first_hand():
    screen = status.render(fleet()).splitlines()
    assert screen[0] == "Holdfast status of inventories/lab.py: 2 hosts read in 1.2s"
    assert "  monit: 2 of 3 checks OK; php8.2-fpm: Does not exist" in screen
    assert "  slice holdfast-web.slice: memory 70M/512M, tasks 7/200, cpu - (quota 100%)" in screen
    assert "  drift: 1 of 3 files would change" in screen and "    differs /etc/nginx/nginx.conf: content" in screen
    assert "web2: UNREACHABLE: Connection refused" in screen
    assert any(line.startswith("  suppressed SiteDown host=web1 tier=tier1") for line in screen)
    assert "  host=web1 until 2026-11-27T13:30:00Z by holdfast maintenance: kernel update" in screen


def test_json_holds_the_same():
    data = json.loads(status.as_json(fleet()))
    assert data["hosts"][0]["monit"]["php8.2-fpm"] == "Does not exist"
    assert data["hosts"][1]["error"] == "Connection refused"
    assert data["silences"][0]["matchers"] == "host=web1"


def test_files_needing_a_secret_not_in_the_environment_are_not_compared(monkeypatch):
    monkeypatch.chdir(FLEET)
    monkeypatch.delenv("HOLDFAST_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("HOLDFAST_SMTP_USER", raising=False)
    production = read_inventory("inventories/prod.py")
    mon1 = production.get_host("mon1.example.net")
    files, not_compared = status.wanted_files(production, mon1, ["monitors"], loading.load(production)[mon1.name])
    # (and the firewall and the relay: they need the web hosts' addresses, which do not resolve here)
    assert [line.split(":")[0] for line in not_compared] == ["monit", "firewall", "alertmanager", "monit-relay"]
    assert "HOLDFAST_SMTP_PASSWORD" in not_compared[0]
    assert {file.path for file in files} >= {monitoring.PROMETHEUS_CONFIG, monitoring.BLACKBOX_CONFIG}


def test_monit_files_are_rendered_with_the_relays_as_the_deploy_does(monkeypatch):
    monkeypatch.chdir(FLEET)
    lab = read_inventory("inventories/lab.py")
    web, mon = lab.get_group("web")[0], lab.get_group("monitors")[0]
    files, not_compared = status.wanted_files(lab, web, ["lab", "web"], loading.load(lab)[web.name])
    script = {file.path: file.content for file in files}.get(monit.EVENT_SCRIPT)
    assert not_compared == [] and script is not None
    assert f"http://{address_of(mon)}:{monitoring.MONIT_RELAY_PORT}/alerts" in script


def test_a_web_host_with_a_database_compares_mysqld_exporters_flags(monkeypatch):
    monkeypatch.chdir(FLEET)
    lab = read_inventory("inventories/lab.py")
    web = lab.get_group("web")[0]
    host_settings = loading.load(lab)[web.name]
    assert monitoring.has_mysqld(host_settings)  # the sample's mariadb has the mysqld exporter
    files, _ = status.wanted_files(lab, web, ["lab", "web"], host_settings)
    flags = {file.path: file.content for file in files}.get(f"/etc/default/{monitoring.MYSQLD_EXPORTER}")
    assert flags is not None and f"--config.my-cnf={monitoring.MYSQLD_EXPORTER_LOGIN}" in flags
