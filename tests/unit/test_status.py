"""`holdfast status`: what the hosts print is read right, and the screen says what matters."""

import json
import subprocess
from pathlib import Path

import pytest
from pyinfra.facts.hardware import Memory

from holdfast import loading, monit, monitoring, status
from holdfast.facts import FileState, FileStates
from holdfast.inventory import address_of, read_inventory
from holdfast.providers.api import ProviderError
from holdfast.providers.model import Existing
from holdfast.safe_config import ConfigFile
from tests.conftest import FLEET, executable, fleet_settings

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
    files_text = (f"600 root root /etc/a\n600 root root /etc/b\n644 root root /etc/c\n"
                  f"{same.state.sha1}  /etc/a\n{'0' * 40}  /etc/b\n{loosened.state.sha1}  /etc/c\n")
    found = status.drift([same, changed, loosened, absent], files_text, ["heartbeat: no key"])
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


def deploy_memory() -> int:
    """This machine's memory in bytes as the deploy's fact reads it: pyinfra's Memory, given
    the line `vmstat -s` prints of MemTotal."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    kib = next(line.split()[1] for line in meminfo if line.startswith("MemTotal:"))
    return Memory().process([f"{kib} K total memory"]) * 1024**2


def test_the_script_run_on_a_host_prints_each_section(tmp_path):
    """host_script run by sh, with stat, sha1sum, awk and openssl for real on files here, and
    stand-ins of monit, nginx, systemctl and curl printing what the real ones print."""
    certificate = tmp_path / "shop.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null", "-out",
                    certificate, "-subj", "/CN=shop", "-days", "2"], check=True, capture_output=True)
    wanted = tmp_path / "etc/a b.conf"
    wanted.parent.mkdir()
    wanted.write_text("x")
    wanted.chmod(0o640)
    window = tmp_path / "var/lib/holdfast/maintenance"
    window.parent.mkdir(parents=True)
    window.write_text('{"until": "t"}')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "monit", f"#!/bin/sh\nprintf '%s' '{MONIT}'\n")
    executable(bin_dir / "nginx", f"#!/bin/sh\nprintf '    ssl_certificate  {certificate};\\n'\n")
    executable(bin_dir / "systemctl", "#!/bin/sh\necho \"$*\"\n")
    executable(bin_dir / "curl", "#!/bin/sh\necho \"[\\\"$4\\\"]\"\n")
    script = status.host_script([str(wanted), str(tmp_path / "missing")],
                                ["holdfast-web.slice", "holdfast-critical.slice"], monitor=True)
    run = subprocess.run(["sh", "-c", script.replace("/var/lib/holdfast", str(tmp_path / "var/lib/holdfast"))],
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    found = status.sections(run.stdout)
    assert list(found) == ["monit", "memory", "maintenance", "files", "certificates", "slices", "alerts", "silences"]
    assert status.monit_summary(found["monit"]) == {"web1": "OK", "php8.2-fpm": "Does not exist", "nginx": "OK"}
    assert status.memory_of(found["memory"]) == deploy_memory()
    assert status.window(found["maintenance"]) == {"until": "t"}
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    assert FileStates().process(found["files"].splitlines()) == {
        str(wanted): FileState("640", user, group, "11f6ad8ec52a2984abaafd7c3b516503785c2072")}
    (expiry,) = status.certificates(found["certificates"]).items()
    assert expiry[0] == str(certificate) and expiry[1].endswith(" GMT")
    assert found["slices"] == (f"show {' '.join(f'-p {p}' for p in status.SLICE_PROPERTIES)} -- holdfast-web.slice "
                               "holdfast-critical.slice")
    api = f"http://{monitoring.ALERTMANAGER_ADDRESS}/api/v2"
    assert (found["alerts"], found["silences"]) == (f'["{api}/alerts"]', f'["{api}/silences"]')


def test_a_host_holds_the_service_addresses_among_its_own():
    script = status.host_script([], [], monitor=False, addresses=True)
    assert "echo '" + status.SECTION_MARK + "addresses'; ip -o addr show 2>/dev/null | awk '{print $4}'" in script
    assert "addresses" not in status.host_script([], [], monitor=False)
    own = "127.0.0.1/8\n10.123.0.11/24\n10.123.0.100/32\nfe80::1/64\n"
    assert status.held({"shop": "10.123.0.100", "blog": "10.123.0.101"}, own) == {"shop": "10.123.0.100"}
    assert status.held({"shop": "10.123.0.1"}, own) == {}  # a prefix of an own address is not it


def test_the_addresses_banned_now_and_until_when():
    script = status.host_script([], [], monitor=False, banning=True)
    assert f"echo '{status.SECTION_MARK}bans'; fail2ban-client get holdfast-limits banip --with-time 2>&1" in script
    assert "fail2ban" not in status.host_script([], [], monitor=False)
    # fail2ban-client's own output (1.0.2, Debian 12)
    listed = ("10.130.0.250 \t2026-11-28 13:38:04 + 20 = 2026-11-28 13:38:24\n"
              "2001:db8::5 \t2026-11-28 13:38:05 + 40 = 2026-11-28 13:38:45\n")
    assert status.banned(listed) == ({"10.130.0.250": "2026-11-28 13:38:24", "2001:db8::5": "2026-11-28 13:38:45"}, "")
    assert status.banned("\n") == ({}, "")
    assert status.banned("Sorry but the jail 'holdfast-limits' does not exist\n") == (
        {}, "Sorry but the jail 'holdfast-limits' does not exist")
    lines = status.render_host(status.HostStatus("web1", banned={"10.130.0.250": "2026-11-28 13:38:24"}))
    assert "  banned at the firewall: 10.130.0.250 until 2026-11-28 13:38:24" in lines
    assert "  bans UNREADABLE: fail2ban down" in status.render_host(status.HostStatus("web1", bans_error="fail2ban down"))


def test_each_service_address_is_held_by_one_host_or_the_screen_says_what_is_wrong():
    lab_settings = fleet_settings()
    def hosts(**holding):
        return [status.HostStatus(name, holds={"shop": holding[name]} if name in holding else {})
                for name in ("web1", "web2", "mon1")]

    address = str(lab_settings["web1"].failover.sites["shop"].address)
    assert status.holders(lab_settings, hosts(web2=address)) == [f"shop {address}: held by web2"]
    assert status.holders(lab_settings, hosts(web1=address, web2=address)) == [
        f"shop {address}: HELD BY web1 AND web2 (each answers: split brain)"]
    assert status.holders(lab_settings, hosts()) == [f"shop {address}: HELD BY NOBODY"]
    unread = hosts()
    unread[0].error = "Connection refused"
    assert status.holders(lab_settings, unread) == [f"shop {address}: HELD BY NOBODY (web1 unreadable)"]
    without = {name: each.model_copy(update={"failover": each.failover.model_copy(update={"enabled": False})})
               for name, each in lab_settings.items()}
    assert status.holders(without, hosts(web1=address)) == []


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


def test_the_whole_screen():
    full = fleet()
    web1 = full.hosts[0]
    web1.maintenance = {"until": "2026-11-27T13:30:00Z", "reason": "kernel update", "services": ["nginx", "cron"]}
    web1.certificates = {"/etc/ssl/b.pem": "Feb 25 12:00:00 2027 GMT", "/etc/ssl/a.pem": "Could not open file"}
    web1.drift.missing.append("/etc/monit/monitrc")
    web1.drift.not_compared.append("heartbeat: its key is in the environment only")
    web1.holds = {"shop": "10.123.0.100"}
    full.service_addresses = ["shop 10.123.0.100: held by web1"]
    full.alertmanager_error = "curl: (7) Failed to connect"
    assert status.render(full) == """\
Holdfast status of inventories/lab.py: 2 hosts read in 1.2s

web1:
  MAINTENANCE until 2026-11-27T13:30:00Z (nginx, cron): kernel update
  monit: 2 of 3 checks OK; php8.2-fpm: Does not exist
  slice holdfast-web.slice: memory 70M/512M, tasks 7/200, cpu - (quota 100%)
  slice holdfast-critical.slice: memory -/-, tasks 12/-, cpu 2.5s (no quota)
  certificate /etc/ssl/a.pem: expires Could not open file
  certificate /etc/ssl/b.pem: expires Feb 25 12:00:00 2027 GMT
  holds shop's service address 10.123.0.100
  drift: 2 of 3 files would change
    differs /etc/nginx/nginx.conf: content
    missing /etc/monit/monitrc
    not compared: heartbeat: its key is in the environment only
web2: UNREACHABLE: Connection refused
service addresses:
  shop 10.123.0.100: held by web1
alerts:
  suppressed SiteDown host=web1 tier=tier1 since 2026-11-27T13:00:00Z: shop on web1 is down
  Alertmanager unreadable: curl: (7) Failed to connect
silences:
  host=web1 until 2026-11-27T13:30:00Z by holdfast maintenance: kernel update
hosted monitors:
  UptimeRobot: skipped, HOLDFAST_UPTIMEROBOT_API_KEY is not set
audit:
  warning: [edge-timeouts] web1: no timeout"""
    quiet = status.Fleet("inventories/prod.py", 0.04, [status.HostStatus("mon1", drift=status.Drift(5, [], [], []))])
    assert status.render(quiet) == """\
Holdfast status of inventories/prod.py: 1 hosts read in 0.0s

mon1:
  monit: lists no check (not installed, or not running)
  drift: none, 5 files as Holdfast renders them
alerts: none firing
silences: none
hosted monitors:
audit: no findings"""


@pytest.mark.parametrize(("value", "shown"), [
    (None, "-"), (0, "0"), (1023, "1023"), (1024, "1K"), (1536, "2K"), (70 << 20, "70M"), (5 << 30, "5G"),
    (2 << 40, "2T"), (3 << 50, "3072T"),
])
def test_sizes_are_shown_in_binary_units(value, shown):
    assert status._size(value) == shown


@pytest.mark.parametrize(("value", "percent"), [
    ("1s", 100.0), ("1.5s", 150.0), ("500ms", 50.0), ("200000us", 20.0), ("infinity", None), ("", None),
    (None, None), ("fast", None), ("1.2.3s", None),
])
def test_a_cpu_quota_in_percent_of_one_cpu(value, percent):
    assert status._quota_percent(value) == percent


def test_alerts_and_silences_are_read_whole_and_sorted():
    more = [*ALERTS, {"labels": {"alertname": "HostDown", "host": "web1"}},
            {"labels": {"alertname": "SiteDown", "host": "mon1", "tier": "tier2"}, "status": {"state": "active"},
             "startsAt": "2026-11-27T12:00:00Z", "annotations": {"summary": "s"}}]
    assert status.alerts(json.dumps(more)) == [
        status.Alert("SiteDown", "mon1", "tier2", "active", "2026-11-27T12:00:00Z", "s"),
        status.Alert("HostDown", "web1", "", "", "", ""),
        status.Alert("SiteDown", "web1", "tier1", "suppressed", "2026-11-27T13:00:00Z", "shop on web1 is down"),
    ]
    regex = {"id": "c", "matchers": [{"name": "alertname", "value": "Site.*", "isRegex": True},
                                     {"name": "host", "value": "web2"}], "status": {"state": "pending"}}
    assert status.silences(json.dumps([*SILENCES, regex, {"id": "d", "matchers": []}])) == [
        status.Silence("a", "host=web1", "2026-11-27T13:30:00Z", "holdfast maintenance", "kernel update"),
        status.Silence("c", "alertname=~Site.*,host=web2", "", "", ""),
    ]


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


# --- written against the survivors of a mutation run -------------------------------------


def test_drift_reads_paths_with_spaces_and_modes_written_with_a_leading_zero():
    spaced, gone, last = (ConfigFile("/etc/a  b c.conf", "x", mode="0640"), ConfigFile("/etc/gone.conf", "y"),
                          ConfigFile("/etc/z.conf", "z"))
    files_text = (f"640 root root {spaced.path}\n644 root root {last.path}\n"
                  f"{spaced.state.sha1}  {spaced.path}\n{last.state.sha1}  {last.path}\n")
    found = status.drift([spaced, gone, last], files_text, [])
    assert (found.missing, found.differs) == (["/etc/gone.conf"], [])


def test_slices_are_read_past_a_block_that_is_none_and_rounded_to_a_tenth():
    text = "Description=x\n\nId=holdfast-web.slice\nCPUUsageNSec=2560000000\nCPUQuotaPerSecUSec=333333us\n"
    (use,) = status.slice_use(text)
    assert (use.unit, use.cpu_seconds, use.cpu_quota_percent) == ("holdfast-web.slice", 2.6, 33.3)
    assert ("  slice holdfast-web.slice: memory -/-, tasks -/-, cpu 2.6s (quota 33.3%)"
            in status.render_host(status.HostStatus("web1", slices=[use])))


def test_a_host_whose_memory_is_unreadable_has_none():
    assert status.memory_of("") == 0 and status.memory_of("garbage") == 0


def test_an_alert_without_a_host_or_name_label_shows_them_empty():
    (alert,) = status.alerts(json.dumps([{"labels": {}, "status": {}, "annotations": {}}]))
    assert (alert.name, alert.host, alert.tier) == ("", "", "")


def test_every_failing_check_and_a_window_on_every_service_are_shown():
    host = status.HostStatus("web1", monit={"nginx": "Does not exist", "cron": "Not monitored", "web1": "OK"},
                             maintenance={"until": "t", "reason": "r"})
    lines = status.render_host(host)
    assert "  MAINTENANCE until t (): r" in lines
    assert "  monit: 1 of 3 checks OK; cron: Not monitored; nginx: Does not exist" in lines


def test_a_provider_that_cannot_be_read_leaves_the_others_listed(monkeypatch):
    def existing(api, hosted):
        raise ProviderError("UptimeRobot: list monitors: HTTP 500: down")

    monkeypatch.setattr(status.providers.PROVIDERS["uptimerobot"], "existing", existing)
    monkeypatch.setattr(status.providers.PROVIDERS["healthchecks"], "existing", lambda api, hosted: [
        Existing("1", "web1", "holdfast-web1", True, {}, ""), Existing("2", "theirs", "x", False, {}, "up")])
    fleet_settings_ = fleet_settings()
    hosted = next(iter(fleet_settings_.values())).hosted_monitors
    keys = {hosted.uptimerobot.api_key_env: "k", hosted.healthchecks.api_key_env: "k"}
    assert status.hosted_lines(fleet_settings_, keys) == [
        "UptimeRobot: unreadable: UptimeRobot: list monitors: HTTP 500: down", "Healthchecks.io: web1: unknown"]


def test_nobody_holding_an_address_names_every_host_that_could_not_be_read():
    lab_settings = fleet_settings()
    hosts = [status.HostStatus("web1", error="refused"), status.HostStatus("web2", error="timeout"),
             status.HostStatus("mon1")]
    address = str(lab_settings["web1"].failover.sites["shop"].address)
    assert status.holders(lab_settings, hosts) == [f"shop {address}: HELD BY NOBODY (web1, web2 unreadable)"]
