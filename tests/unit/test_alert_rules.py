"""The production alert rules, run by ``promtool test rules`` over synthetic probe series:
what pages whom, and when, without waiting for a real outage.

The rules are rendered from the production group_data (inventories/prod.py): probes every
30 s, a site down after 3 failed probes in a row, tier2 15 minutes after tier1, the shop's
availability objective 99.9 %. Each series below starts at 0 and has one sample per 30 s;
"1x9 0x40" is 5 minutes of successful probes (10 samples), then 20 minutes of failed ones.
"""

import json
import shutil
import subprocess

import pytest

from holdfast import monitoring
from tests.unit.test_monitoring import monitor_settings, rendered

SITE = {"job": "sites", "host": "web1.example.com", "site": "shop", "instance": "http://web1.example.com/"}
NODE = {"job": "nodes", "host": "web1.example.com", "instance": "web1.example.com:9100"}
# Six hours of successful probes (samples 0 to 5h59m30s) before the trouble starts at 6h
# (360 minutes): the budget's windows are full, as on a monitor that has run for a while.
# (On a fresh Prometheus the long windows hold fewer probes, and a short failure weighs more.)
STEADY = "1x719"
START = 360


def series(name: str, labels: dict, values: str) -> dict:
    selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def firing(name: str, tier: str | None, summary: str, labels: dict) -> dict:
    """An alert promtool must see: its labels, its summary, and its runbook annotations."""
    alert = monitoring.ALERTS[name]
    return {
        "exp_labels": {**labels, "severity": alert.severity, **({"tier": tier} if tier else {})},
        "exp_annotations": {"summary": summary, "description": alert.description,
                            "runbook_url": f"docs/RUNBOOK.md#{name.lower()}"},
    }


def expect(minutes: float, name: str, *alerts: dict) -> dict:
    """At ``minutes``, exactly ``alerts`` of ``name`` fire (none when empty)."""
    return {"eval_time": f"{int(minutes * 60)}s", "alertname": name, "exp_alerts": list(alerts)}


@pytest.fixture
def promtool_run(prod, tmp_path):
    """Runs one promtool test (input series, expected alerts) against the production rules."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: `make unit` installs Debian's prometheus package, which has it")
    rules = rendered(monitoring.prometheus_files(monitor_settings(prod), monitoring.watched_hosts(prod)),
                     monitoring.RULES_FILE)
    (tmp_path / "rules.yml").write_text(rules)

    def run(input_series: list[dict], checks: list[dict], evaluation: str = "30s") -> None:
        test = {"rule_files": ["rules.yml"], "evaluation_interval": evaluation,
                "tests": [{"interval": "30s", "input_series": input_series, "alert_rule_test": checks}]}
        (tmp_path / "test.yml").write_text(json.dumps(test, indent=1))  # JSON is YAML
        result = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr

    return run


SITE_DOWN = "shop on web1.example.com is down: 3 probes in a row got no 2xx answer with the expected text."


def burning(share: str) -> str:
    return f"shop on web1.example.com fails {share} of its probes: at this rate its error budget is gone within days."


# --- the alerts of old: probes in a row, hosts, Monit ----------------------------------


def test_site_down_pages_tier1_after_3_failed_probes_and_tier2_15_minutes_later(promtool_run):
    # Probes fail from 5m on: the third failure in a row is at 6m.
    promtool_run([series("probe_success", SITE, "1x9 0x40")], [
        expect(5.5, "SiteDown"),
        expect(6, "SiteDown", firing("SiteDown", "tier1", SITE_DOWN, SITE)),
        expect(20.5, "SiteDown", firing("SiteDown", "tier1", SITE_DOWN, SITE)),
        expect(21, "SiteDown", firing("SiteDown", "tier1", SITE_DOWN, SITE), firing("SiteDown", "tier2", SITE_DOWN, SITE)),
    ])


def test_a_site_recovering_before_tier2_s_wait_never_reaches_tier2(promtool_run):
    promtool_run([series("probe_success", SITE, "1x9 0x20 1x40")], [
        expect(8, "SiteDown", firing("SiteDown", "tier1", SITE_DOWN, SITE)),
        expect(15.5, "SiteDown"),
        expect(25, "SiteDown"),
    ])


def test_slow_pages_after_3_slow_probes(promtool_run):
    summary = "shop on web1.example.com is slow: 4s per page, over 3s for 3 probes in a row."
    promtool_run([series("probe_success", SITE, "1x40"), series("probe_duration_seconds", SITE, "0.2x9 4x30")], [
        expect(5.5, "SiteSlow"),
        expect(6, "SiteSlow", firing("SiteSlow", "tier1", summary, SITE)),
    ])


def test_host_down_after_two_minutes_without_node_exporter(promtool_run):
    summary = "web1.example.com is unreachable: no answer from its node_exporter for 120s."
    promtool_run([series("up", NODE, "1x9 0x30")], [
        expect(6.5, "HostDown"),
        expect(7, "HostDown", firing("HostDown", "tier1", summary, NODE)),
    ])


def test_a_failing_monit_check_pages(promtool_run):
    labels = {**NODE, "check": "nginx", "status": "Does not exist"}
    summary = "Monit on web1.example.com reports nginx: Does not exist."
    promtool_run([series("holdfast_monit_check_ok", labels, "1x9 0x30")], [
        expect(5.5, "MonitCheckFailing"),
        expect(6, "MonitCheckFailing", firing("MonitCheckFailing", "tier1", summary, labels)),
    ])


def test_monit_silent_after_four_of_its_cycles(promtool_run):
    # The export's file is rewritten every 30 s until 5m, then never again.
    labels = {**NODE, "file": "/var/lib/prometheus/node-exporter/holdfast_monit.prom"}
    summary = "Monit on web1.example.com has said nothing for 120s: Monit (or its export) stopped."
    promtool_run([series("node_textfile_mtime_seconds", labels, "0+30x10 300x30")], [
        expect(7, "MonitSilent"),
        expect(7.5, "MonitSilent", firing("MonitSilent", "tier1", summary, labels)),
    ])


def test_the_watchdog_always_fires_for_no_tier(promtool_run):
    promtool_run([], [expect(0, "Watchdog", firing("Watchdog", None, "The external monitor is alive.", {}))])


# --- the error budget: multi-window, multi-burn-rate (SiteBudgetBurnFast, SiteBudgetBurnSlow) ---


def test_a_total_outage_pages_within_2_minutes(promtool_run):
    promtool_run([series("probe_success", SITE, f"{STEADY} 0x60")], [
        expect(START, "SiteBudgetBurnFast"),
        expect(START + 2, "SiteBudgetBurnFast", firing("SiteBudgetBurnFast", "tier1", burning("4.132%"), SITE)),
        expect(START + 2, "SiteDown", firing("SiteDown", "tier1", SITE_DOWN, SITE)),
    ])


def test_a_quarter_of_probes_failing_pages_within_5_minutes_where_site_down_stays_silent(promtool_run):
    one_in_four = " ".join(["1 1 1 0"] * 15)  # from 60m on, every fourth probe fails
    promtool_run([series("probe_success", SITE, f"{STEADY} {one_in_four}")], [
        expect(START + 3, "SiteBudgetBurnFast"),
        expect(START + 5, "SiteBudgetBurnFast", firing("SiteBudgetBurnFast", "tier1", burning("1.653%"), SITE)),
        expect(START + 5, "SiteDown"),
        expect(START + 29.5, "SiteDown"),
    ])


def test_a_30_second_blip_pages_nobody(promtool_run):
    promtool_run([series("probe_success", SITE, f"{STEADY} 0 1x60")], [
        expect(minutes, name) for minutes in (START, START + 0.5, START + 1, START + 2, START + 5, START + 10) for name in ("SiteBudgetBurnFast", "SiteDown")
    ])


def test_a_long_outage_reaches_tier2_after_its_wait(promtool_run):
    promtool_run([series("probe_success", SITE, f"{STEADY} 0x60")], [
        expect(START + 15, "SiteBudgetBurnFast", firing("SiteBudgetBurnFast", "tier1", burning("25.62%"), SITE)),
        expect(START + 16, "SiteBudgetBurnFast", firing("SiteBudgetBurnFast", "tier1", burning("27.27%"), SITE),
               firing("SiteBudgetBurnFast", "tier2", burning("27.27%"), SITE)),
    ])


def test_a_slow_burn_opens_a_ticket_for_tier1_and_pages_nobody(promtool_run):
    # 12 hours of probes (a day's window is judged once it holds half its probes), ten
    # failed minutes, then 90 good ones: 1.2 % of the day, 8 % of 2 hours, none in the
    # last 30 minutes. The rules are evaluated every 5 minutes here: promtool is quicker.
    summary = "shop on web1.example.com fails 1.22% of its probes: faster than its error budget lasts."
    promtool_run([series("probe_success", SITE, "1x1439 0x19 1x179")], [
        expect(820, "SiteBudgetBurnSlow", firing("SiteBudgetBurnSlow", "tier1", summary, SITE)),
        expect(820, "SiteBudgetBurnFast"),
    ], evaluation="5m")


def test_a_prometheus_that_just_started_pages_no_budget_burn(promtool_run):
    # Ten minutes of history, one of them failed: a fifth of the probes, but too few to judge.
    promtool_run([series("probe_success", SITE, "1x17 0 1x10")], [
        expect(minutes, name) for minutes in (9.5, 12, 14) for name in ("SiteBudgetBurnFast", "SiteBudgetBurnSlow")
    ])
