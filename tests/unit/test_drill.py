"""The drill's arithmetic, on a made-up record: shares, percentiles, MTTD and MTTR, alert
delays, goals; and its parsers, on Monit's and the mail sink's own formats."""

import pytest

from bench.drill import figures, watch
from bench.drill.load import Hit
from bench.drill.scenario import Record, Timeline

TIMELINE = Timeline(idle=10, surge=20, loop_after=5, cooldown=5)


def record(**changes) -> Record:
    made = Record("with Holdfast", True, TIMELINE, monit_cycle=5, clock_ticks=100)
    made.hits = [Hit("visitor", t / 2, 0.002, 200, True) for t in range(60)]
    made.hits += [Hit("attacker", 10 + t / 100, 0.001, 429 if t % 10 else 200, False) for t in range(1000)]
    made.loop_started = 15.2
    # ticks (1/100 s), main pid, health: a loop from 15.2 s, a restart with a new pid at 24 s
    made.app = [(t / 2, [str(int(50 * max(0, t / 2 - 15.2))) if t / 2 < 24 else "0", "100" if t / 2 < 24 else "200", "1"])
                for t in range(70)]
    made.monit_log = [(23.0, "total cpu usage of 25.0% matches resource limit"), (23.0, "trying to restart")]
    made.alerts = {"alice@example.com": [24.5], "bob@example.com": [25.0]}
    for key, value in changes.items():
        setattr(made, key, value)
    return made


def test_detection_and_recovery():
    result = figures.figures(record())
    assert result.detected == 23.0 and result.mttd == pytest.approx(7.8)
    assert result.recovered == 24.0 and result.mttr == pytest.approx(1.0)
    assert result.mttd_cycles == pytest.approx(1.56) and result.mttr_cycles == pytest.approx(0.2)


def test_alert_delay_is_the_last_contact_reached():
    result = figures.figures(record())
    assert (result.alert_delay, result.alerts_expected, result.alerts_lost) == (2.0, 2, 0)


def test_a_contact_never_mailed_is_an_alert_lost():
    result = figures.figures(record(alerts={"alice@example.com": [24.5], "bob@example.com": []}))
    assert (result.alert_delay, result.alerts_lost) == (None, 1)
    assert figures.goals(result)["alerts_lost"] == (1, False)


def test_visitors_and_attacker():
    result = figures.figures(record())
    assert result.visitors_success == 1 and result.latency_ratio == 1
    assert (result.attacker_sent, result.attacker_429, result.attacker_served) == (1000, 900, 100)


def test_app_cpu_while_looping():
    assert figures.figures(record()).app_cpu_looping == pytest.approx(50)


def test_every_goal_met():
    assert all(met for _, met in figures.goals(figures.figures(record())).values())


def test_no_monit_means_never_detected():
    result = figures.figures(record(protected=False, monit_log=[], alerts={}))
    assert (result.mttd, result.mttr, result.alert_delay) == (None, None, None)
    assert not figures.goals(result)["mttd_cycles"][1]


def test_visitors_failing_during_the_surge():
    failing = [Hit("visitor", 10 + t / 2, 10.0, 0, False) for t in range(20)]
    result = figures.figures(record(hits=record().hits[:20] + failing))
    assert result.visitors_success == 0 and not figures.goals(result)["visitors_success"][1]


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
