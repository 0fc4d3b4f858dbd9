"""The drill's arithmetic, on a made-up record: shares, percentiles, MTTD and MTTR, alert
delays, goals; and its parsers, on Monit's and the mail sink's own formats. Each blind
spot of the old goals (issue 23) has a record here that must fail them."""

import ipaddress
import json
import math
import os
import subprocess

import pytest

from bench.drill import figures, report, scenario, watch
from bench.drill.load import Hit
from bench.drill.scenario import Record, Timeline
from holdfast.providers.model import recipients
from lab.doubles.healthchecks import HealthchecksDouble, Notification
from lab.harness import faults
from lab.site import standin_site
from lab.topology import LAB
from tests.conftest import REPO, executable, fleet_settings

TIMELINE = Timeline(idle=10, surge=20, loop_after=5, cooldown=5)


def browsing(client: str, idle_ms: float = 2, surge_ms: float = 2, surge_ok: bool = True) -> list[Hit]:
    """Four requests a second for 30 s (40 idle, 80 in the surge), taking the given time."""
    return [Hit(client, t / 4, (idle_ms if t < 40 else surge_ms) / 1000, 200 if t < 40 or surge_ok else 502,
                t < 40 or surge_ok) for t in range(120)]


def record(**changes) -> Record:
    made = Record("with Holdfast", True, TIMELINE, monit_cycle=5, clock_ticks=100)
    made.hits = browsing("visitor") + browsing("member", 3, 4)
    made.hits += [Hit("attacker", 10 + t / 100, 0.001, 429 if t % 10 else 200, False) for t in range(1000)]
    made.loop_armed = 15.1
    made.loop_started = 15.2
    made.loop_cpu = [(15.2 + step / 2, 0.3 + step / 4) for step in range(18)]  # half a CPU until killed
    # ticks (1/100 s), main pid, health: a loop from 15.2 s, a restart with a new pid at 24 s
    made.app = [(t / 2, [str(int(50 * max(0, t / 2 - 15.2))) if t / 2 < 24 else "0", "100" if t / 2 < 24 else "200", "1"])
                for t in range(70)]
    made.monit_log = [(23.0, "total cpu usage of 25.0% matches resource limit"), (23.0, "trying to restart")]
    made.alerts = {"alice@example.com": [24.5], "bob@example.com": [25.0]}
    made.slow_log_loops = 1
    for key, value in changes.items():
        setattr(made, key, value)
    return made


def test_detection_and_recovery():
    result = figures.figures(record())
    assert result.detected == 23.0 and result.mttd == pytest.approx(7.8)
    assert result.recovered == 24.0 and result.mttr == pytest.approx(1.0)
    assert result.mttd_cycles == pytest.approx(1.56) and result.mttr_cycles == pytest.approx(0.2)


def killed_by_php_fpm(reported: float) -> Record:
    """The pool's timeout (10 s) killed the loop at 25.2 s; Monit's log check reported it at
    ``reported``, and mailed both contacts a second later. The main process never changed."""
    app = [(t / 2, [str(int(50 * max(0, min(t / 2, 25.2) - 15.2))), "100", "1"]) for t in range(80)]
    return record(request_timeout=10.0, app=app, monit_log=[(reported, "content match:")],
                  alerts={"alice@example.com": [reported + 1], "bob@example.com": [reported + 1]})


def test_a_request_php_fpm_killed_is_the_loop_stopped_once_monit_reports_it():
    result = figures.figures(killed_by_php_fpm(reported=29.0))
    assert (result.detected, result.recovered, result.detect_within) == (29.0, 29.0, 20.0)
    assert result.mttd == pytest.approx(13.8) and unmet(result) == []


def test_a_kill_reported_after_the_timeout_and_two_cycles_fails():
    result = figures.figures(killed_by_php_fpm(reported=36.0))
    assert result.mttd == pytest.approx(20.8) and unmet(result) == ["mttd"]


def test_a_restart_must_bring_a_new_main_process():
    """A CPU-limit event with the looping process still there is no recovery."""
    app = [(t / 2, [str(int(50 * max(0, t / 2 - 15.2))), "100", "1"]) for t in range(70)]
    result = figures.figures(record(app=app))
    assert (result.detected, result.recovered, result.mttr) == (23.0, None, None)
    assert "mttr_cycles" in unmet(result)


def test_alert_delay_is_the_last_contact_reached():
    result = figures.figures(record())
    assert (result.alert_delay, result.alerts_expected, result.alerts_lost) == (2.0, 2, 0)


def test_a_contact_never_mailed_is_an_alert_lost():
    result = figures.figures(record(alerts={"alice@example.com": [24.5], "bob@example.com": []}))
    assert (result.alert_delay, result.alerts_lost) == (None, 1)
    assert figures.goals(result)["alerts_lost"] == (1, False)


def test_visitors_members_and_attacker():
    result = figures.figures(record())
    assert (result.visitors.served, result.visitors.latency_ratio, result.visitors.p99_ms) == (1, 1, 2)
    assert (result.members.served, result.members.requests, result.members.p50_ms) == (1, 80, 4)
    assert (result.attacker_sent, result.attacker_429, result.attacker_served) == (1000, 900, 100)


def test_app_cpu_before_and_while_looping():
    result = figures.figures(record())
    assert (result.app_cpu_before_loop, result.app_cpu_looping) == (0, pytest.approx(50))


def worker_using(percent: float, began: float = 15.2) -> list[tuple[float, float]]:
    """The looping worker's own records every 0.5 s for 9 s, using ``percent`` % of a CPU
    (WordPress had used 0.3 s of CPU on the request before the loop began)."""
    return [(began + step / 2, 0.3 + percent / 100 * step / 2) for step in range(19)]


def test_the_looping_workers_cpu_from_its_own_records():
    assert figures.figures(record(loop_cpu=worker_using(23))).loop_worker_cpu == pytest.approx(23)


def test_a_worker_squeezed_by_a_busy_app_and_host_still_fired():
    """The app at 76 % of its slice's one CPU before the loop and 89 % with it (WordPress's own
    pages, measured): the loop adds little to the app, its worker still spins at 15 %."""
    result = figures.figures(record(loop_cpu=worker_using(15)))
    assert "loop_worker_cpu" not in unmet(result)


def test_a_worker_that_waits_instead_of_spinning_fails_the_loop_goal():
    """A hang in the search (asleep, or stuck on the database) is not the loop, however busy the app."""
    assert "loop_worker_cpu" in unmet(figures.figures(record(loop_cpu=worker_using(1))))


def test_a_loop_killed_before_its_second_record_has_no_figure():
    result = figures.figures(record(loop_cpu=worker_using(50)[:1]))
    assert math.isnan(result.loop_worker_cpu) and "loop_worker_cpu" in unmet(result)


def test_every_goal_met():
    assert all(met for _, met in figures.goals(figures.figures(record())).values())


def test_no_monit_means_never_detected_and_no_alert_expected():
    result = figures.figures(record(protected=False, monit_log=[], alerts={}))
    assert (result.mttd, result.mttr, result.alert_delay, result.alerts_lost) == (None, None, None, None)
    assert not figures.goals(result)["mttd"][1]
    assert report.table([result]).splitlines()[-1].split() == ["alerts", "lost", "-"]


def unmet(result: figures.Figures) -> list[str]:
    return [key for key, (_, met) in figures.goals(result).items() if not met]


def test_visitors_failing_during_the_surge():
    result = figures.figures(record(hits=browsing("visitor", surge_ok=False) + browsing("member")))
    assert result.visitors.served == 0 and unmet(result) == ["visitors.served"]


def test_php_down_the_whole_surge_fails_even_with_every_cached_page_served():
    """The cache answers the anonymous visitors; the members, whom only PHP can answer, fail."""
    result = figures.figures(record(hits=browsing("visitor") + browsing("member", surge_ok=False)))
    assert (result.visitors.served, result.members.served) == (1, 0)
    assert unmet(result) == ["members.served"]


def test_surge_latency_29_times_the_idle_median_fails():
    """Recorded idle: median 1.72 ms, one slow request at 30.36 ms; every surge request at 29x
    the median is under that slowest one, which the old "p99" of 60 samples was."""
    idle = [Hit("visitor", t / 4, (30.36 if t == 7 else 1.72) / 1000, 200, True) for t in range(40)]
    surge = [Hit("visitor", 10 + t / 4, 29 * 1.72 / 1000, 200, True) for t in range(80)]
    result = figures.figures(record(hits=idle + surge + browsing("member")))
    assert result.visitors.latency_ratio == pytest.approx(29) and unmet(result) == ["visitors.latency_ratio"]


def test_surge_latency_over_the_absolute_ceiling_fails():
    result = figures.figures(record(hits=browsing("visitor", 200, 300) + browsing("member")))
    assert result.visitors.latency_ratio == 1.5 and unmet(result) == ["visitors.p99_ms"]


def test_too_few_requests_give_no_latency_figure():
    result = figures.figures(record(hits=browsing("visitor")[::4] + browsing("member")))
    assert result.visitors.latency_ratio is None and "visitors.latency_ratio" in unmet(result)


def test_nearest_rank_percentile():
    assert [figures.percentile(list(range(1, 101)), share) for share in (0.5, 0.95, 0.99, 1)] == [50, 95, 99, 100]


def test_a_monit_event_before_the_loop_is_no_detection():
    """Stamped 15 s (whole seconds), the loop began at 15.2 s: it cannot be shown to follow it."""
    result = figures.figures(record(monit_log=[(15.0, "trying to restart")]))
    assert (result.detected, result.mttd) == (None, None) and "mttd" in unmet(result)


def test_a_cpu_warning_before_its_count_is_no_detection():
    """Monit warns at each cycle its CPU rule matches, before the rule's count restarts
    anything (CI: a warning 7.7 s into the loop, PHP-FPM's kill reported 5 s later, no
    restart): the loop was stopped by the kill, and recovered when that was reported."""
    killed = killed_by_php_fpm(reported=29.0)
    killed.monit_log = [(23.0, "total cpu usage of 41.0% matches resource limit [cpu usage > 40.0%]"),
                        *killed.monit_log]
    result = figures.figures(killed)
    assert (result.detected, result.recovered) == (29.0, 29.0) and unmet(result) == []


def test_a_failed_arming_fails_the_loop_goal():
    result = figures.figures(record(loop_armed=None))
    assert unmet(result) == ["loop_worker_cpu"]


def test_a_loop_that_never_spun_fails_the_loop_goal():
    assert unmet(figures.figures(record(loop_cpu=worker_using(0)))) == ["loop_worker_cpu"]


def test_monit_log_lines_are_read_with_their_times():
    log = (
        "[2026-11-26T07:08:42+0000] info     : 'web1' Monit 5.33.0 started\n"
        "[2026-11-26T07:10:01+0000] error    : 'php-fpm' total cpu usage of 24.9% matches resource limit "
        "[total cpu usage > 15.0%]\n"
        "[2026-11-26T07:10:01+0000] info     : 'php-fpm' trying to restart\n"
    )
    events = watch.monit_events(log, "php-fpm", since=1795677000)
    assert [what for _, what in events] == [
        "total cpu usage of 24.9% matches resource limit [total cpu usage > 15.0%]", "trying to restart",
    ]
    assert events[0][0] == 1795677001.0


def test_delivery_time_is_the_sinks_received_header():
    mailbox = (
        "From holdfast@example.com Thu Nov 26 07:10:02 2026\n"
        "Received: from web1 by mon1 with esmtp (Exim 4.96); Thu, 26 Nov 2026 07:10:02 +0000\n"
        "Subject: [web1] php-fpm: Resource limit matched\n\nbody\n"
        "From holdfast@example.com Thu Nov 26 07:11:00 2026\n"
        "Received: from web1 by mon1 with esmtp (Exim 4.96); Thu, 26 Nov 2026 07:11:00 +0000\n"
        "Subject: [web1] cron: Does not exist\n\nbody\n"
    )
    assert watch.delivered(mailbox, "php-fpm:") == [1795677002.0]


def test_only_the_resource_limit_alert_counts():
    mailbox = (
        "From holdfast@example.com Thu Nov 26 07:10:02 2026\n"
        "Received: from web1 by mon1 with esmtp (Exim 4.96); Thu, 26 Nov 2026 07:10:02 +0000\n"
        "Subject: [web1] php-fpm: PID changed\n\nbody\n"
        "From holdfast@example.com Thu Nov 26 07:10:09 2026\n"
        "Received: from web1 by mon1 with esmtp (Exim 4.96); Thu, 26 Nov 2026 07:10:09 +0000\n"
        "Subject: [web1] php-fpm: Resource limit matched\n\nbody\n"
    )
    assert watch.delivered(mailbox, scenario.alert_subjects("php-fpm")[0]) == [1795677009.0]


@pytest.fixture(scope="module")
def lab_web():
    """The lab's first web host and its settings (its stand-in site has tls)."""
    web = LAB.group("web")[0]
    return web, fleet_settings()[web.name]


def test_the_protected_run_talks_https_to_a_site_with_tls_and_the_bare_twin_http(lab_web):
    site = standin_site(lab_web[1])
    assert site.tls  # the lab's shop is served over HTTPS
    assert {client.tls_lab for client in scenario.browsers(LAB, site, protected=True)} == {LAB}
    assert {client.tls_lab for client in scenario.browsers(LAB, site, protected=False)} == {None}


def test_the_drills_samplers_ask_the_site_over_https_by_its_name(lab_web):
    web, host_settings = lab_web
    site, name = standin_site(host_settings), standin_site(host_settings).server_names[0]
    remote = watch.Remote(LAB, web)
    app = watch.app_sampler(remote, "php8.2-fpm.service", site, tls=True).script
    probe = watch.probe_sampler(remote, web.address, name, site.content_path, tls=True).script
    assert f"--resolve {name}:443:127.0.0.1 'https://{name}{site.health_path}'" in app
    assert f"--resolve {name}:443:{web.address} 'https://{name}{site.content_path}'" in probe
    assert "http://" not in app + probe


# --- the crowd (issue 17) -----------------------------------------------------------

def crowd_record(page_ok: float = 1.0, page_ms: float = 5, search_ms: float = 20, search_status: int = 429,
                 clients: int = 200, ssh_surge: float = 0.010) -> Record:
    """The abuser's record with a crowd instead of the attacker: ``clients`` addresses at
    0.4 r/s for the surge's 20 s, each with 7 pages in 10 on a tracking tag, one search in 10
    (for the loop's word, one client in ten); and ssh and Monit round trips."""
    made = record(scenario="crowd")
    made.hits = [hit for hit in made.hits if hit.client != "attacker"]
    failed_every = round(1 / (1 - page_ok)) if page_ok < 1 else 0
    count = 0
    for client in range(clients):
        for step in range(8):
            path = "/?s=boots+1" if step == 7 else "/?product=1&utm_id=5"
            if step == 7 and client % 10 == 0:
                path = f"/?s={scenario.LOOP_WORD}+1"
            count += 1
            ok = not (failed_every and count % failed_every == 0)
            search = "?s=" in path
            made.hits.append(Hit(f"crowd{client + 1}", 10 + step * 2.5 + client / 100,
                                 (search_ms if search else page_ms) / 1000,
                                 (search_status if search else 200 if ok else 502), ok and not search, path))
    made.ssh = [(t / 2, 0.010 if t < 20 else ssh_surge) for t in range(70)]
    made.monit = [(t, 0.050) for t in range(35)]
    return made


def test_a_crowd_that_is_served_meets_every_goal():
    result = figures.figures(crowd_record())
    assert result.crowd.served == 1 and result.crowd.requests == 1400 and result.crowd_per_second == 80
    assert (result.searches, result.searches_answered, result.searches_busy, result.bug_searches) == (180, 1, 180, 20)
    assert set(figures.CROWD_GOALS) <= set(figures.goals(result)) and unmet(result) == []


def test_the_abuser_is_not_held_to_the_crowds_goals():
    assert not set(figures.CROWD_GOALS) & set(figures.goals(figures.figures(record())))


@pytest.mark.parametrize(("changes", "missed"), [
    ({"page_ok": 0.99}, ["crowd.served"]),  # 1 % of page views failed: 99.5 % is the goal
    ({"page_ms": 1200}, ["crowd.p99_ms"]),
    ({"search_ms": 10_000, "search_status": 504}, ["searches_answered"]),  # waited for a timeout
    ({"search_ms": 2500, "search_status": 200}, ["searches_answered"]),  # results, but late
    ({"clients": 150}, ["crowd_per_second"]),  # 60 r/s: not 5x what PHP renders uncached
    ({"ssh_surge": 0.016}, ["ssh_ratio"]),
])
def test_a_crowd_goal_missed_fails(changes, missed):
    assert unmet(figures.figures(crowd_record(**changes))) == missed


def test_the_crowd_is_many_addresses_each_under_the_per_client_limits(lab_web):
    site = standin_site(lab_web[1])
    addresses = LAB.crowd_addresses(scenario.CROWD_SIZE)
    clients = scenario.crowd(LAB, site, True, addresses)
    assert len({client.source for client in clients}) == len(clients) >= 200
    assert all(client.keep_alive and client.per_second < site.limits.default.per_second / 4 for client in clients)
    assert sum(client.per_second for client in clients) >= 5 * scenario.UNCACHED_CAPACITY
    paths = [path for client in clients for path in client.paths]
    searches = [path for path in paths if scenario.is_search(path)]
    assert sum("utm_id={n}" in path for path in paths) / len(paths) == 0.7 and len(searches) / len(paths) == 0.1
    assert sum(scenario.hits_the_bug(path) for path in searches) / len(searches) == 0.1
    # each client searches under the strict class's per-client rate too
    assert all(client.per_second * sum(map(scenario.is_search, client.paths)) / len(client.paths)
               <= site.limits.strict.per_second for client in clients)


def test_the_crowds_addresses_are_the_labs_own_and_outside_its_subnet():
    addresses = LAB.crowd_addresses(200)
    assert len(set(addresses)) == 200 and all(address.startswith("198.18.") for address in addresses)
    assert LAB.crowd_network.subnet_of(ipaddress.ip_network("198.18.0.0/15"))
    assert not LAB.crowd_network.overlaps(LAB.subnet)
    with pytest.raises(ValueError, match="a crowd of 255: expected 1 to 254"):
        LAB.crowd_addresses(255)


def test_a_loop_missing_from_the_slow_log_fails():
    assert unmet(figures.figures(record(slow_log_loops=0))) == ["slow_log_loops"]


def test_the_crowds_report_has_its_goals_its_series_and_its_plot(tmp_path):
    records = [crowd_record()]
    runs = [figures.figures(record) for record in records]
    report.write_json(tmp_path / "drill-crowd.json", runs, records)
    written = json.loads((tmp_path / "drill-crowd.json").read_text())
    assert set(figures.CROWD_GOALS) <= set(written["goals"]["with Holdfast"])
    assert 100 in written["series"]["with Holdfast"]["crowd_success"]
    report.write_plot(tmp_path / "drill-crowd.png", records)
    assert (tmp_path / "drill-crowd.png").read_bytes().startswith(b"\x89PNG")
    assert "crowd page views served, surge" in report.table(runs)


def test_the_readmes_drill_tables_are_made_from_the_results_json():
    drills = report.results(REPO / "bench/results")
    assert set(drills) == set(scenario.SCENARIOS)
    readme = (REPO / "README.md").read_text()
    assert report.readme_blocks(readme, drills) == readme, "stale: python -m bench.drill.report bench/results README.md"


def test_a_drill_json_as_a_readme_table(tmp_path):
    records = [crowd_record()]
    report.write_json(tmp_path / "drill-crowd.json", [figures.figures(record) for record in records], records)
    table = report.markdown(json.loads((tmp_path / "drill-crowd.json").read_text()))
    assert "| crowd page views served, surge | 100.0% |" in table and "attacker" not in table
    assert f"- PASS {figures.CROWD_GOALS['crowd.served'][0]} (1)" in table
    block = report.readme_blocks("a\n<!-- drill:crowd -->\nold\n<!-- /drill:crowd -->\nb", {"crowd": json.loads(
        (tmp_path / "drill-crowd.json").read_text())})
    assert block == f"a\n<!-- drill:crowd -->\n{table}\n<!-- /drill:crowd -->\nb"
    with pytest.raises(ValueError, match="no <!-- drill:abuser -->"):
        report.readme_blocks("a", {"abuser": {}})


# --- the fault matrix (issue 17) ------------------------------------------------------

def fault_record(scenario_name: str = "mariadb-down", broken: float | None = 15.0, healthy_again: float = 24.0,
                 events=((18.0, "process is not running"), (18.0, "trying to restart"))) -> Record:
    """The crowd's record with a fault instead of the loop: the service broken at ``broken``,
    Monit's ``events``, the health page failing until ``healthy_again``, tier 1 mailed."""
    made = crowd_record()
    made.scenario, made.broken, made.loop_armed, made.loop_started, made.loop_cpu = scenario_name, broken, None, None, []
    made.slow_log_loops = 0
    made.app = [(t / 2, ["100", "100", "0" if broken is not None and broken <= t / 2 < healthy_again else "1"])
                for t in range(70)]
    made.monit_log = list(events)
    made.alerts = {"alice@example.com": [19.0], "bob@example.com": [19.0]}
    return made


def test_a_fault_seen_healed_and_told_meets_every_fault_goal():
    result = figures.figures(fault_record())
    assert (result.fault_started, result.detected, result.mttd, result.recovered) == (15.0, 18.0, 3.0, 24.0)
    assert set(figures.goals(result)) == set(figures.FAULT_GOALS) and unmet(result) == []
    assert "loop_worker_cpu" not in figures.goals(result)  # no loop in a fault scenario


@pytest.mark.parametrize(("changes", "missed"), [
    ({"broken": None}, ["fault_started", "mttd", "mttr", "alert_delay", "alerts_lost"]),
    ({"healthy_again": 99.0}, ["mttr"]),  # never healthy again in the run
    ({"events": [(14.0, "process is not running")]}, ["mttd", "mttr", "alert_delay", "alerts_lost"]),  # before it
])
def test_a_fault_goal_missed_fails(changes, missed):
    assert unmet(figures.figures(fault_record(**changes))) == missed


def test_what_each_fault_breaks_and_mails(lab_web):
    settings = lab_web[1]
    said, command = scenario.breaking("mariadb-down", settings, tls=True)
    assert said == "mariadb-down: mariadb is broken"
    assert command == 'pid=$(systemctl show -p MainPID --value mariadb.service); [ "$pid" -gt 0 ] && kill -9 "$pid"'
    said, command = scenario.breaking("php-hung", settings, tls=True)
    assert command.startswith("for i in $(seq 40); do standin hang; curl -s -m 2 ") and "/health" in command
    assert command.endswith("| grep -qF OK || exit 0; done; exit 1")
    assert scenario.fault_subjects("php-hung", settings) == ("php-fpm: Connection failed",
                                                              "php-fpm-timeouts: Content match")
    assert scenario.fault_subjects("mariadb-down", settings) == ("mariadb: Does not exist",)
    assert scenario.breaking("crowd", settings, tls=True)[1] == f"standin arm-loop persistent {scenario.LOOP_WORD}"


def test_a_faults_table_has_the_crowds_rows_not_the_attackers():
    keys = [key for key, _, _ in report.rows_of("php-hung")]
    assert "crowd.served" in keys and "searches_answered" in keys and "fault_started" in keys
    assert not [key for key in keys if key.startswith("attacker")]
    assert not [key for key, _, _ in report.rows_of("abuser") if key.startswith(("crowd", "searches"))]


# --- the web host dead mid-crowd (issues 16 and 17) -------------------------------------

def web_down_record(broken: float | None = 15.0, takeover_after: float = 3.0, back: float | None = 30.0,
                    holder_once_back: str = "web2", lag_at_12: float = 0.1, replica: bool = True) -> Record:
    """The crowd's record with the web host cut off at ``broken`` (15 s) and back at ``back``:
    web1 held the service address, nobody answered there for ``takeover_after`` seconds, then
    web2, and ``holder_once_back`` from ``back`` on; tier 1 mailed at 25 s."""
    made = fault_record(scenario.WEB_DOWN, broken=broken, events=())
    cut = 15.0

    def holder(when: float) -> str | None:
        if when < cut:
            return "web1"
        if when < cut + takeover_after:
            return None
        return "web2" if back is None or when < back else holder_once_back

    made.holders = [(t / 4, holder(t / 4)) for t in range(160)]
    made.back = back
    made.alerts = {"alice@example.com": [25.0], "bob@example.com": [25.0]}
    # The standby's replica 0.1 s behind, twice a second, but once (at 12 s) ``lag_at_12``.
    made.replica_lag = [(t / 2, lag_at_12 if t == 24 else 0.1) for t in range(80)] if replica else []
    return made


def test_a_takeover_within_5s_without_a_flap_back_meets_every_web_down_goal():
    result = figures.figures(web_down_record())
    assert (result.fault_started, result.detected, result.mttd, result.recovered) == (15.0, 18.0, 3.0, 18.0)
    assert result.flapped_back is False and result.alert_delay == 7.0 and result.replica_lag == 0.1
    assert set(figures.goals(result)) == set(figures.WEB_DOWN_GOALS) and unmet(result) == []


@pytest.mark.parametrize(("changes", "missed"), [
    ({"takeover_after": 7.0}, ["mttd"]),  # the standby too slow
    ({"takeover_after": 99.0}, ["mttd", "alert_delay", "alerts_lost"]),  # it never answered
    ({"holder_once_back": "web1"}, ["flapped_back"]),  # web1 back took the address mid-traffic
    ({"lag_at_12": 1.5}, ["replica_lag"]),  # the standby's database fell behind in the surge
    ({"back": None}, ["flapped_back"]),  # web1 never back: no return seen, no goal met
    ({"broken": None}, ["fault_started", "mttd", "flapped_back", "alert_delay", "alerts_lost"]),
    ({"replica": False}, ["replica_lag"]),  # no replica watched: no figure, the goal missed
])
def test_a_web_down_goal_missed_fails(changes, missed):
    assert unmet(figures.figures(web_down_record(**changes))) == missed


def test_a_dead_web_host_is_mailed_as_its_service_address_moved_and_tabled_with_the_crowd(lab_web):
    assert scenario.fault_subjects(scenario.WEB_DOWN, lab_web[1]) == (f"ServiceAddressMoved on {LAB.service_address} ",)
    keys = [key for key, _, _ in report.rows_of(scenario.WEB_DOWN)]
    assert "flapped_back" in keys and "crowd.served" in keys and "flapped_back" not in dict.fromkeys(
        key for key, _, _ in report.rows_of("mariadb-down"))


# --- a fault while the mail relay is down --------------------------------------------

def relay_down_record(alerts=(48.0,)) -> Record:
    """The database killed at 15 s with the relay down from then until 45 s; each contact's
    alert mails at ``alerts``."""
    made = fault_record(scenario.RELAY_DOWN)
    made.back = 45.0
    made.alerts = {"alice@example.com": list(alerts), "bob@example.com": list(alerts)}
    return made


def test_an_alert_that_waited_for_the_relay_and_came_once_meets_every_relay_goal():
    result = figures.figures(relay_down_record())
    assert (result.alert_after_back, result.alert_mails, result.alerts_lost) == (3.0, 1, 0)
    assert set(figures.goals(result)) == set(figures.RELAY_GOALS) and unmet(result) == []
    assert "alert_delay" not in figures.goals(result)  # the relay's outage is in it


@pytest.mark.parametrize(("alerts", "missed"), [
    ((40.0,), ["alert_after_back"]),  # mailed while the relay was down: it was not
    ((48.0, 55.0), ["alert_mails"]),  # mailed twice
    ((110.0,), ["alert_after_back"]),  # over a minute after the relay's return
    ((), ["alerts_lost", "alert_after_back", "alert_mails"]),
])
def test_a_relay_goal_missed_fails(alerts, missed):
    assert unmet(figures.figures(relay_down_record(alerts))) == missed


def test_the_relay_fault_stops_the_relays_mta_around_the_databases_kill(lab_web):
    settings = lab_web[1]
    said, command = scenario.breaking(scenario.RELAY_DOWN, settings, tls=True)
    assert said == "relay-down: mariadb is broken" and command == scenario.breaking("mariadb-down", settings, tls=True)[1]
    outage = scenario.outage_of(scenario.RELAY_DOWN, LAB, LAB.group("web")[0], settings, protected=True)
    assert outage.down_for == 30 and "mon1" in outage.said
    assert outage.cut.args == (f"systemctl stop {scenario.MTA}",) and outage.restore.args == (
        f"systemctl start {scenario.MTA}",)
    assert scenario.outage_of(scenario.RELAY_DOWN, LAB, LAB.group("web")[0], settings, protected=False) is None
    assert scenario.outage_of("mariadb-down", LAB, LAB.group("web")[0], settings, protected=True) is None


# --- the network between the monitor and the web host cut -------------------------------

def network_cut_record(alert_at: float | None = 35.0, up_again: float = 58.0) -> Record:
    """The crowd's record with the network cut at 15 s for 40 s: the monitor's alert about
    the host firing from ``alert_at``, its scrapes failing from 15 s until ``up_again``; tier
    1 mailed 5 s after the alert (at 40 s if it never fired)."""
    made = fault_record(scenario.NET_CUT, events=())
    made.back, made.detect_within = 55.0, 30.0
    made.monitor_alerts = [] if alert_at is None else [alert_at + step for step in range(20)]
    made.monitor_up = [(float(t), 0.0 if 15 <= t < up_again else 1.0) for t in range(70)]
    mailed = 40.0 if alert_at is None else alert_at + 5
    made.alerts = {"alice@example.com": [mailed], "bob@example.com": [mailed]}
    return made


def test_a_cut_seen_told_and_seen_again_meets_every_network_cut_goal():
    result = figures.figures(network_cut_record())
    assert (result.detected, result.mttd, result.detect_within, result.recovered, result.seen_after_back) == (
        35.0, 20.0, 30.0, 58.0, 3.0)
    assert result.alert_delay == 5.0
    assert set(figures.goals(result)) == set(figures.NET_CUT_GOALS) and unmet(result) == []


@pytest.mark.parametrize(("changes", "missed"), [
    ({"alert_at": 50.0}, ["mttd"]),  # 35 s after the cut: over its bound
    ({"alert_at": None}, ["mttd", "alert_delay", "alerts_lost", "seen_after_back"]),  # never told
    ({"up_again": 99.0}, ["seen_after_back"]),  # never scraped again
])
def test_a_network_cut_goal_missed_fails(changes, missed):
    assert unmet(figures.figures(network_cut_record(**changes))) == missed


def test_the_network_cut_routes_each_hosts_packets_to_the_other_nowhere_and_mails_host_down(lab_web):
    web, settings = lab_web
    monitor = LAB.group("monitors")[0]
    assert scenario.cut_routes(LAB, web, "add") == [(web, f"ip route add blackhole {monitor.address}/32"),
                                                   (monitor, f"ip route add blackhole {web.address}/32")]
    assert [command for _, command in scenario.cut_routes(LAB, web, "del")] == [
        f"ip route del blackhole {monitor.address}/32", f"ip route del blackhole {web.address}/32"]
    outage = scenario.outage_of(scenario.NET_CUT, LAB, web, settings, protected=False)  # with Holdfast or without
    assert outage.down_for == scenario.NET_CUT_FOR and outage.said == "the network between mon1 and web1 cut for 40s"
    assert scenario.fault_subjects(scenario.NET_CUT, settings, web.name) == (f"HostDown on {web.name} ",)


# --- a hang only Monit's probe sees -----------------------------------------------------

def test_each_fault_has_the_bound_its_defence_gives(lab_web):
    """The lab's Monit: a 5 s cycle, php-fpm's probe 2 cycles of 5 s; its monitor: HostDown
    after 15 s, scrapes and evaluations every 5 s."""
    settings = lab_web[1]
    assert scenario.detect_within("php-hung", settings) == 30  # (2 + 1) x (5 + 5)
    assert scenario.detect_within(scenario.NET_CUT, settings) == 30  # 15 + 2 x 5 + 5
    assert scenario.detect_within("mariadb-down", settings) == scenario.detect_within("crowd", settings) == 0


@pytest.mark.parametrize(("seen_after", "met"), [(25.0, True), (30.0, True), (31.0, False)])
def test_a_hang_only_the_probe_sees_is_held_to_the_probes_bound(seen_after, met):
    made = fault_record("php-hung", events=[(15.0 + seen_after, "failed protocol test [HTTP] at [127.0.0.1]:443/health"),
                                            (15.0 + seen_after, "trying to restart")], healthy_again=15.0 + seen_after + 2)
    made.detect_within, made.request_timeout = 30.0, 10.0
    made.alerts = {"alice@example.com": [15.0 + seen_after + 1], "bob@example.com": [15.0 + seen_after + 1]}
    result = figures.figures(made)
    assert result.detect_within == 30.0 and result.mttd == seen_after
    assert ("mttd" not in unmet(result)) is met


def test_no_flap_back_is_not_shown_when_nobody_held_the_address_before_the_death():
    made = web_down_record()
    made.holders = [(when, holder) for when, holder in made.holders if when >= made.broken]
    assert figures.figures(made).flapped_back is None and "flapped_back" in unmet(figures.figures(made))


# --- the monitor host dead: the hosted dead-man switch tells ------------------------------

def monitor_down_record(down_at: float | None = 145.0, told: tuple[float, ...] = (145.0,),
                        up_at: float = 178.0) -> Record:
    """The crowd's record with the monitor host cut off at 15 s for 160 s: Healthchecks.io
    said it down at ``down_at``, told each first-tier contact at ``told``, and said it up at
    ``up_at``."""
    made = fault_record(scenario.MON_DOWN, events=())
    made.back, made.detect_within = 175.0, 130.5
    made.monitor_alerts = [] if down_at is None else [down_at]
    made.monitor_up = [(up_at, 1.0)]
    made.alerts = {"alice@example.com": list(told), "+15550100": list(told)}
    return made


def test_a_dead_monitor_told_once_and_seen_back_meets_every_monitor_down_goal():
    result = figures.figures(monitor_down_record())
    assert (result.detected, result.mttd, result.alert_mails, result.alerts_lost, result.seen_after_back) == (
        145.0, 130.0, 1, 0, 3.0)
    assert set(figures.goals(result)) == set(figures.MON_DOWN_GOALS) and unmet(result) == []


@pytest.mark.parametrize(("changes", "missed"), [
    ({"down_at": 150.0, "told": (150.0,)}, ["mttd"]),  # later than its period, timeout and grace
    ({"down_at": None, "told": ()}, ["mttd", "alerts_lost", "alert_mails", "seen_after_back"]),  # nobody told
    ({"told": (145.0, 160.0)}, ["alert_mails"]),  # told twice
    ({"up_at": 240.0}, ["seen_after_back"]),  # never said up again soon
])
def test_a_monitor_down_goal_missed_fails(changes, missed):
    assert unmet(figures.figures(monitor_down_record(**changes))) == missed


def test_the_monitor_stays_dead_until_its_check_went_down_and_is_held_to_that_bound(lab_web):
    """The lab's heartbeat: a ping every 10 s, its check's timeout and grace a minute each."""
    settings = lab_web[1]
    assert scenario.monitor_down_for(settings) == 10 + 60 + 60 + scenario.MON_DOWN_MORE
    assert scenario.detect_within(scenario.MON_DOWN, settings) == 130.5
    assert scenario.breaking(scenario.MON_DOWN, settings, tls=True)[1] == ""  # the outage is the fault
    assert "alert_mails" in dict.fromkeys(key for key, _, _ in report.rows_of(scenario.MON_DOWN))


def test_what_healthchecks_told_about_the_monitor_host_is_recorded_per_first_tier_address(lab_web):
    settings = lab_web[1]
    first, later = ([r.address for r in recipients(settings.escalation) if bool(r.delay) is delayed]
                    for delayed in (False, True))
    made = monitor_down_record(down_at=None, told=())
    made.alerts, made.back = {}, 175.0
    with HealthchecksDouble("key") as double:
        double.notifications = [
            *(Notification(1_000_145.0, "mon1", "down", address) for address in first),
            Notification(1_000_150.0, "web1", "down", first[0]),  # another host's
            *(Notification(1_000_178.0, "mon1", "up", address) for address in first),
        ]
        scenario._hosted_view(double, LAB, settings, made, epoch=1_000_000.0)
    assert made.monitor_alerts == [145.0] and made.monitor_up == [(178.0, 1.0)]
    assert made.alerts == {address: [145.0] for address in first} and later and not set(later) & set(made.alerts)


# --- the web host's disk full -------------------------------------------------------------

def disk_full_record(told: tuple[float, ...] = (17.0,), freed_told: float | None = 43.0,
                     new_pages_lost: tuple[float, ...] = ()) -> Record:
    """The crowd's record with the web host's disk filled at 15 s and freed at 40 s: Monit's
    mail about the disk over its limit reaching each first-tier contact at ``told``, about it
    within its limit again at ``freed_told``; a newcomer asking for a page new to the cache
    every half second from 10 s, those sent at ``new_pages_lost`` unanswered."""
    made = fault_record(scenario.DISK_FULL, events=())
    made.back, made.detect_within = 40.0, 20.0
    made.alerts = {"alice@example.com": list(told), "bob@example.com": list(told)}
    made.monitor_alerts = sorted(set(told))
    made.monitor_up = [] if freed_told is None else [(freed_told, 1.0)]
    made.hits += [Hit("newcomer", 10 + t / 2, 0.1, 200 if t / 2 not in new_pages_lost else 0,
                      t / 2 not in new_pages_lost, f"/?product=1&ref={t}") for t in range(100)]
    return made


def test_a_full_disk_told_once_and_told_freed_meets_every_disk_full_goal():
    result = figures.figures(disk_full_record())
    assert (result.detected, result.mttd, result.alert_delay, result.alert_mails, result.seen_after_back) == (
        17.0, 2.0, 0.0, 1, 3.0)
    assert result.newcomers.served == 1 and set(figures.goals(result)) == set(figures.DISK_FULL_GOALS)
    assert unmet(result) == []


@pytest.mark.parametrize(("changes", "missed"), [
    ({"told": (36.0,)}, ["mttd"]),  # later than its 3 cycles and one more
    ({"told": (14.0,)},  # only before the fill: nothing told of it, nor of its freeing
     ["mttd", "alert_delay", "alerts_lost", "alert_mails", "seen_after_back"]),
    ({"told": (17.0, 30.0)}, ["alert_mails"]),  # mailed twice
    ({"freed_told": None}, ["seen_after_back"]),  # never told freed
    ({"freed_told": 71.0}, ["seen_after_back"]),  # told freed, but late
    ({"new_pages_lost": (20.0,)}, ["newcomers.served"]),  # one page new to the cache lost in 100
])
def test_a_disk_full_goal_missed_fails(changes, missed):
    assert unmet(figures.figures(disk_full_record(**changes))) == missed


def test_the_disk_is_filled_only_where_it_is_a_lab_host_s_own_and_freed(lab_web, tmp_path):
    settings = lab_web[1]
    web = LAB.group("web")[0]
    outage = scenario.outage_of(scenario.DISK_FULL, LAB, web, settings, protected=False)  # with Holdfast or without
    assert outage.down_for == scenario.DISK_FULL_FOR and outage.said == "web1's disk full for 25s"
    assert scenario.breaking(scenario.DISK_FULL, settings, tls=True)[1] == ""  # the outage is the fault
    assert scenario.detect_within(scenario.DISK_FULL, settings) == 20  # (3 + 1) cycles of 5 s
    assert scenario.fault_subjects(scenario.DISK_FULL, settings) == ("fs-root: Resource limit matched",)
    # On a / larger than a lab host's disk (this machine's) the fill refuses and writes nothing;
    # on a lab host's, it fills what is free (stand-ins of df and fallocate).
    for size, refused in (("252G", True), ("3G", False)):
        executable(tmp_path / "df", f"#!/bin/sh\ncase \"$*\" in *size*) printf ' Size\\n {size}\\n';; "
                                    "*) printf 'Avail\\n 2000000000\\n';; esac\n")
        executable(tmp_path / "fallocate", f"#!/bin/sh\necho \"$*\" > {tmp_path}/fallocated\n")
        (tmp_path / "fallocated").unlink(missing_ok=True)
        done = subprocess.run(["sh", "-c", faults.fill_script()], capture_output=True, text=True,
                              env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
        assert ("not filled" in done.stderr) is refused and (tmp_path / "fallocated").exists() is not refused
    assert (tmp_path / "fallocated").read_text() == f"-l 1998951424 {faults.FILL_FILE}\n"
