"""The drill's numbers, from a run's record: visitors, attacker, monitor, the app's CPU,
the host's responsiveness, and how fast Monit saw, fixed and told."""

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bench.drill.scenario import Record


@dataclass
class Figures:
    label: str
    protected: bool
    visitors_idle_success: float
    visitors_success: float
    visitors_idle_p50_ms: float
    visitors_idle_p99_ms: float
    visitors_p50_ms: float
    visitors_p99_ms: float
    latency_ratio: float
    attacker_sent: int
    attacker_served: int
    attacker_429: int
    attacker_failed: int
    probes_success: float
    app_cpu_looping: float
    ssh_idle_ms: float
    ssh_surge_ms: float
    monit_idle_ms: float | None
    monit_surge_ms: float | None
    loop_started: float | None
    detected: float | None
    recovered: float | None
    mttd: float | None
    mttr: float | None
    mttd_cycles: float | None
    mttr_cycles: float | None
    alert_delay: float | None
    alerts_expected: int
    alerts_lost: int

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def app_cpu(record: Record) -> list[tuple[float, float]]:
    """(time, percent of one CPU) the app's processes used between samples."""
    series = []
    for (before, old), (after, new) in zip(record.app, record.app[1:], strict=False):
        used = max(0, int(new[0]) - int(old[0])) / record.clock_ticks
        series.append((after, 100 * used / (after - before)))
    return series


def _recovered(record: Record, detected: float) -> float | None:
    """First sample after ``detected`` with a new main process that answers its health page."""
    before = [values[1] for when, values in record.app if when <= record.loop_started]
    looping_pid = before[-1] if before else None
    return next(
        (when for when, (_, pid, health) in record.app
         if when >= detected and pid not in (looping_pid, "0") and health == "1"),
        None,
    )


def figures(record: Record) -> Figures:
    timeline = record.timeline
    surge_start = timeline.idle

    def window(hits, idle: bool):
        return [hit for hit in hits if (hit.sent < surge_start) == idle]

    visits = [hit for hit in record.hits if hit.client.startswith("visitor")]
    idle_visits, surge_visits = window(visits, True), window(visits, False)
    attacks = [hit for hit in record.hits if hit.client == "attacker"]
    idle_p99 = percentile([hit.seconds * 1000 for hit in idle_visits], 0.99)
    surge_p99 = percentile([hit.seconds * 1000 for hit in surge_visits], 0.99)
    probes = [values for when, values in record.probes if when >= surge_start]

    detected = recovered = alert_delay = None
    if record.loop_started is not None:
        acted = [when for when, what in record.monit_log
                 if when >= record.loop_started - 1 and ("cpu usage" in what or "restart" in what)]
        detected = acted[0] if acted else None
    # Per contact, the first alert from detection on (None: none, or nothing detected).
    arrivals = [None] * len(record.alerts)
    if detected is not None:
        recovered = _recovered(record, detected)
        arrivals = [min((when for when in times if when >= detected - 1), default=None)
                    for times in record.alerts.values()]
        if arrivals and None not in arrivals:
            alert_delay = max(arrivals) - detected
    loop_ended = recovered if recovered is not None else timeline.idle + timeline.surge
    loop_cpu = [percent for when, percent in app_cpu(record)
                if record.loop_started is not None and record.loop_started < when <= loop_ended]
    mttd = detected - record.loop_started if detected is not None else None
    mttr = recovered - detected if recovered is not None else None
    ssh_idle, ssh_surge = _round_trips_ms(record.ssh, surge_start)
    monit_idle, monit_surge = _round_trips_ms(record.monit, surge_start)
    return Figures(
        label=record.label,
        protected=record.protected,
        visitors_idle_success=_share(idle_visits),
        visitors_success=_share(surge_visits),
        visitors_idle_p50_ms=_median([hit.seconds * 1000 for hit in idle_visits]),
        visitors_idle_p99_ms=idle_p99,
        visitors_p50_ms=_median([hit.seconds * 1000 for hit in surge_visits]),
        visitors_p99_ms=surge_p99,
        latency_ratio=surge_p99 / idle_p99,
        attacker_sent=len(attacks),
        attacker_served=sum(hit.status == 200 for hit in attacks),
        attacker_429=sum(hit.status == 429 for hit in attacks),
        attacker_failed=sum(hit.status not in (200, 429) for hit in attacks),
        probes_success=sum(values[:1] == ["200"] for values in probes) / len(probes) if probes else float("nan"),
        app_cpu_looping=_median(loop_cpu),
        ssh_idle_ms=_median(ssh_idle),
        ssh_surge_ms=_median(ssh_surge),
        monit_idle_ms=_median(monit_idle) if monit_idle else None,
        monit_surge_ms=_median(monit_surge) if monit_surge else None,
        loop_started=record.loop_started,
        detected=detected,
        recovered=recovered,
        mttd=mttd,
        mttr=mttr,
        mttd_cycles=mttd / record.monit_cycle if mttd is not None else None,
        mttr_cycles=mttr / record.monit_cycle if mttr is not None else None,
        alert_delay=alert_delay,
        alerts_expected=len(record.alerts),
        alerts_lost=arrivals.count(None),
    )


def _round_trips_ms(samples: list[tuple[float, float]], surge_start: float) -> tuple[list[float], list[float]]:
    """Round trips in milliseconds: those begun before the surge, and those from its start on."""
    idle, surge = [], []
    for when, took in samples:
        (idle if when < surge_start else surge).append(took * 1000)
    return idle, surge


def _share(hits) -> float:
    return sum(hit.ok for hit in hits) / len(hits) if hits else float("nan")


def _at_most(value: float | None, bound: float) -> bool:
    return value is not None and value <= bound


# The goals a protected run must meet (issue 9): the figure each is measured by, and
# what the goal says, with whether a run's figures meet it.
GOALS: dict[str, tuple[str, Callable[[Figures], bool]]] = {
    "visitors_success": ("at least 99.5 % of visitors' requests served during the surge",
                         lambda result: result.visitors_success >= 0.995),
    "latency_ratio": ("visitors' p99 during the surge at most 2x the idle p99",
                      lambda result: _at_most(result.latency_ratio, 2)),
    "mttd_cycles": ("Monit detects the loop within 2 of its cycles", lambda result: _at_most(result.mttd_cycles, 2)),
    "mttr_cycles": ("healthy again within 1 cycle of detection", lambda result: _at_most(result.mttr_cycles, 1)),
    "alert_delay": ("the alert mail delivered within 60 s", lambda result: _at_most(result.alert_delay, 60)),
    "alerts_lost": ("every expected alert delivered",
                    lambda result: result.alerts_expected > 0 and result.alerts_lost == 0),
}


def goals(result: Figures) -> dict[str, tuple[float | None, bool]]:
    """Each goal of a protected run: the measured value and whether it is met."""
    return {key: (getattr(result, key), met(result)) for key, (_, met) in GOALS.items()}


def timeline_series(record: Record, bin_seconds: float = 1.0) -> dict[str, list]:
    """Per time bin: visitors' share served and their median and slowest latency."""
    visits = [hit for hit in record.hits if hit.client.startswith("visitor")]
    bins: dict[int, list] = {}
    for hit in visits:
        bins.setdefault(int(hit.sent // bin_seconds), []).append(hit)
    keys = sorted(bins)
    return {
        "t": [key * bin_seconds for key in keys],
        "success": [100 * _share(bins[key]) for key in keys],
        "p50_ms": [_median([hit.seconds * 1000 for hit in bins[key]]) for key in keys],
        "max_ms": [max(hit.seconds * 1000 for hit in bins[key]) for key in keys],
        "app_cpu": app_cpu(record),
    }
