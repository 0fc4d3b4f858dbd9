"""The drill's numbers, from a run's record: visitors (cached pages) and members (pages
only the application can answer), attacker, monitor, the app's CPU, the host's
responsiveness, and how fast the loop was stopped and Monit told.

The loop is stopped by whichever defence acts first: PHP-FPM kills the looping request at
the pool's request timeout (Monit's check of PHP-FPM's log then reports it), or Monit sees
the service over its CPU limit and restarts it."""

import math
import operator
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bench.drill.scenario import (
    DISK_FULL,
    FAULTS,
    MON_DOWN,
    NET_CUT,
    UNCACHED_CAPACITY,
    WEB_DOWN,
    Record,
    hits_the_bug,
    is_search,
)

# Fewest requests a latency figure is taken over: fewer, and it is not taken (a goal on it fails).
MIN_SAMPLES = 40
# Percent of a CPU: the least the looping worker uses, as it measured itself. A spinning
# worker gets what a busy host leaves it (the app as a whole read 48 % of a CPU on CI's
# machine with the stand-in, and WordPress's own pages share the slice's one CPU with it); a
# worker that waits instead of spinning uses next to nothing.
LOOPING_CPU = 10
# Seconds within which a search must be answered, with its results or the busy page.
SEARCH_WITHIN = 2


@dataclass
class Browsing:
    """How one kind of client fared, idle and during the surge: the share of its requests
    served, how many it sent, and their latency in milliseconds."""

    idle_served: float
    served: float
    idle_requests: int
    requests: int
    idle_p50_ms: float
    idle_p99_ms: float
    p50_ms: float
    p99_ms: float
    latency_ratio: float | None  # surge median / idle median; None: too few requests on a side


@dataclass
class Figures:
    label: str
    protected: bool
    visitors: Browsing  # anonymous: pages nginx may answer from its cache
    members: Browsing  # with a session cookie: every answer must come from the application
    attacker_sent: int
    attacker_served: int
    attacker_429: int
    attacker_failed: int
    probes_success: float
    app_cpu_before_loop: float  # the surge until the loop started
    app_cpu_looping: float
    loop_worker_cpu: float  # the looping worker alone, from its own records
    ssh_idle_ms: float
    ssh_surge_ms: float
    monit_idle_ms: float | None
    monit_surge_ms: float | None
    loop_armed: float | None  # None: `standin arm-loop` failed
    loop_started: float | None  # as the stand-in recorded it on the host
    fault_started: float | None  # the loop's start, or a fault's break (None: it failed)
    detected: float | None
    recovered: float | None
    mttd: float | None
    mttr: float | None
    detect_within: float  # seconds: the pool's request timeout and two Monit cycles, or the record's own
    mttd_cycles: float | None
    mttr_cycles: float | None
    alert_delay: float | None
    alerts_expected: int
    alerts_lost: int | None  # None: no alert was expected (a run without Monit)
    slow_log_loops: int | None  # the loop's PHP stacks in PHP-FPM's slow log (None: not read)
    scenario: str
    crowd: Browsing  # the crowd's page views (the surge only; none in the abuser scenario)
    crowd_per_second: float  # what the crowd sent, over the surge
    searches: int  # the crowd's searches the loop bug does not hit
    searches_answered: float  # share of those answered, with results or the busy page, within SEARCH_WITHIN
    searches_busy: int  # of those, answered with the busy page (429 or 503)
    bug_searches: int  # the crowd's searches for the word the loop bug is armed for
    ssh_ratio: float  # surge median / idle median
    monit_ratio: float | None
    # web-down: the dead host answered at the service address once back (None: no failover)
    flapped_back: bool | None = None
    alert_after_back: float | None = None  # the last contact's alert mail after the outage's end (relay-down)
    alert_mails: int | None = None  # the most alert mails about it any contact had after detection
    # network-cut: from the network's return to the monitor's scrape of the host; monitor-down:
    # from the monitor host's return to Healthchecks.io saying it up
    seen_after_back: float | None = None
    # disk-full: pages new to the cache, which nginx must fetch and store
    newcomers: Browsing | None = None
    # web-down: how far the standby's database was behind the primary's at most, in the surge before the death
    replica_lag: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``share`` of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else float("nan")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def browsing(hits, surge_start: float) -> Browsing:
    """The figures of ``hits`` (one kind of client), split at the surge's start."""
    idle = [hit for hit in hits if hit.sent < surge_start]
    surge = [hit for hit in hits if hit.sent >= surge_start]
    idle_ms, surge_ms = ([hit.seconds * 1000 for hit in side] for side in (idle, surge))
    return Browsing(
        idle_served=_share(idle),
        served=_share(surge),
        idle_requests=len(idle),
        requests=len(surge),
        idle_p50_ms=_median(idle_ms),
        idle_p99_ms=_p99(idle_ms),
        p50_ms=_median(surge_ms),
        p99_ms=_p99(surge_ms),
        latency_ratio=_median(surge_ms) / _median(idle_ms) if min(len(idle), len(surge)) >= MIN_SAMPLES else None,
    )


def _p99(values: list[float]) -> float:
    """The 99th percentile, over enough values (NaN: too few to tell)."""
    return percentile(values, 0.99) if len(values) >= MIN_SAMPLES else float("nan")


def app_cpu(record: Record) -> list[tuple[float, float]]:
    """(time, percent of one CPU) the app's processes used between samples."""
    series = []
    for (before, old), (after, new) in zip(record.app, record.app[1:], strict=False):
        used = max(0, int(new[0]) - int(old[0])) / record.clock_ticks
        series.append((after, 100 * used / (after - before)))
    return series


# Monit's log about the loop stopped: the service restarted (the action of its CPU rule), or
# the killed request reported. A "cpu usage ... matches" line alone stops nothing: Monit logs
# it as a warning at each matching cycle before the rule's count is reached.
DETECTIONS = ("trying to restart", "content match")
# Monit's log about a fault of the matrix seen: a failed probe, a process gone, a request
# PHP-FPM killed, a restart.
FAULT_DETECTIONS = ("failed", "not running", "content match", "trying to restart")


def detection(record: Record) -> float | None:
    """When Monit first reported the loop stopped (its restart of the service, or its report
    of the request PHP-FPM killed), or the fault seen, stamped at or after the fault's start.
    The log has whole seconds, so an event in the second the fault began cannot be placed
    after it and is not counted (Monit measures CPU over a whole cycle: it cannot see a loop
    within its first second)."""
    if record.fault_started is None:
        return None
    if record.scenario == WEB_DOWN:
        return _takeover(record)
    if record.scenario in (NET_CUT, MON_DOWN, DISK_FULL):  # the monitor's alert about the host it lost, the
        # hosted one's, or Monit's mail about the full disk (its log is on that disk)
        return next((when for when in record.monitor_alerts if when >= record.fault_started), None)
    signs = FAULT_DETECTIONS if record.scenario in FAULTS else DETECTIONS
    return next((when for when, what in record.monit_log
                 if when >= record.fault_started and any(sign in what for sign in signs)), None)


def _holder_before(record: Record) -> str | None:
    """web-down: who answered at the service address last before the break (None: nobody)."""
    before = [holder for when, holder in record.holders if when < record.broken]
    return before[-1] if before else None


def _takeover(record: Record) -> float | None:
    """web-down: when another host than the one that held the service address before the
    break first answered the site there (None: none did, or no failover watched it)."""
    primary = _holder_before(record)
    return next((when for when, holder in record.holders
                 if when >= record.broken and holder not in (None, primary)), None)


def _flapped_back(record: Record) -> bool | None:
    """web-down: whether the host that died answered at the service address again once it was
    back (None: no failover watched it, nobody answered there before the break, or it never
    came back)."""
    if record.back is None or record.broken is None or (primary := _holder_before(record)) is None:
        return None
    return any(holder == primary for when, holder in record.holders if when >= record.back)


def _recovered(record: Record, detected: float) -> float | None:
    """First sample at or after ``detected`` whose service answers its health page and no
    longer loops: a new main process (Monit restarted it), or any, once Monit reported the
    request PHP-FPM killed (the kill came first), or after a fault of the matrix. A dead web
    host's site is healthy again when the standby answers it (its takeover)."""
    if record.scenario == WEB_DOWN:
        return detected
    if record.scenario in (NET_CUT, MON_DOWN, DISK_FULL):  # the host seen again (scraped, or pinging) after its
        # return, or the disk within its limit again once freed
        return next((when for when, up in record.monitor_up if record.back is not None and when >= record.back
                     and up == 1), None)
    killed = record.scenario in FAULTS or any(
        when == detected and "content match" in what for when, what in record.monit_log)
    before = [values[1] for when, values in record.app if when <= record.fault_started]
    looping_pid = before[-1] if before else None
    return next(
        (when for when, (_, pid, health) in record.app
         if when >= detected and health == "1" and (killed or pid not in (looping_pid, "0"))),
        None,
    )


def _alert_arrivals(record: Record, detected: float | None) -> list[float | None]:
    """Per contact, the first alert at or after detection (None: none, or nothing detected).
    Both times are whole seconds, rounded down alike, so a mail sent after detection never
    reads as before it."""
    if detected is None:
        return [None] * len(record.alerts)
    return [min((when for when in times if when >= detected), default=None) for times in record.alerts.values()]


def _loop_cpu(record: Record, recovered: float | None) -> tuple[float, float]:
    """The app's median CPU (% of a CPU) in the surge before the loop started, and from the
    loop's start until it was healed (or the surge ended), no longer than the pool's request
    timeout, which ends the loop."""
    if record.loop_started is None:
        return float("nan"), float("nan")
    ended = recovered if recovered is not None else record.timeline.idle + record.timeline.surge
    if record.request_timeout:
        ended = min(ended, record.loop_started + record.request_timeout)
    series = app_cpu(record)
    return (_median([percent for when, percent in series if record.timeline.idle < when <= record.loop_started]),
            _median([percent for when, percent in series if record.loop_started < when <= ended]))


def _worker_cpu(record: Record) -> float:
    """The looping worker's CPU (% of a CPU) from its first record to its last."""
    if len(record.loop_cpu) < 2:
        return float("nan")
    (began, used_then), (last, used) = record.loop_cpu[0], record.loop_cpu[-1]
    return 100 * (used - used_then) / (last - began) if last > began else float("nan")


def figures(record: Record) -> Figures:
    surge_start = record.timeline.idle
    attacks = [hit for hit in record.hits if hit.client == "attacker"]
    probes = [values for when, values in record.probes if when >= surge_start]
    detected = detection(record)
    recovered = _recovered(record, detected) if detected is not None else None
    arrivals = _alert_arrivals(record, detected)
    mttd = detected - record.fault_started if detected is not None else None
    before_loop, looping = _loop_cpu(record, recovered)
    mttr = recovered - detected if recovered is not None else None
    ssh_idle, ssh_surge = _round_trips_ms(record.ssh, surge_start)
    monit_idle, monit_surge = _round_trips_ms(record.monit, surge_start)
    crowd = [hit for hit in record.hits if hit.client.startswith("crowd")]
    searches = [hit for hit in crowd if is_search(hit.path) and not hits_the_bug(hit.path)]
    return Figures(
        label=record.label,
        protected=record.protected,
        visitors=browsing([hit for hit in record.hits if hit.client.startswith("visitor")], surge_start),
        members=browsing([hit for hit in record.hits if hit.client.startswith("member")], surge_start),
        attacker_sent=len(attacks),
        attacker_served=sum(hit.status == 200 for hit in attacks),
        attacker_429=sum(hit.status == 429 for hit in attacks),
        attacker_failed=sum(hit.status not in (200, 429) for hit in attacks),
        probes_success=sum(values[:1] == ["200"] for values in probes) / len(probes) if probes else float("nan"),
        app_cpu_before_loop=before_loop,
        app_cpu_looping=looping,
        loop_worker_cpu=_worker_cpu(record),
        ssh_idle_ms=_median(ssh_idle),
        ssh_surge_ms=_median(ssh_surge),
        monit_idle_ms=_median(monit_idle) if monit_idle else None,
        monit_surge_ms=_median(monit_surge) if monit_surge else None,
        loop_armed=record.loop_armed,
        loop_started=record.loop_started,
        fault_started=record.fault_started,
        detected=detected,
        recovered=recovered,
        mttd=mttd,
        mttr=mttr,
        detect_within=record.detect_within or record.request_timeout + 2 * record.monit_cycle,
        mttd_cycles=mttd / record.monit_cycle if mttd is not None else None,
        mttr_cycles=mttr / record.monit_cycle if mttr is not None else None,
        alert_delay=max(arrivals) - detected if arrivals and None not in arrivals else None,
        alerts_expected=len(record.alerts),
        alerts_lost=arrivals.count(None) if record.alerts else None,
        slow_log_loops=record.slow_log_loops,
        scenario=record.scenario,
        crowd=browsing([hit for hit in crowd if not is_search(hit.path)], surge_start),
        crowd_per_second=len(crowd) / record.timeline.surge,
        searches=len(searches),
        searches_answered=_share([_answered_at_once(hit) for hit in searches]),
        searches_busy=sum(hit.status in (429, 503) for hit in searches),
        bug_searches=sum(hits_the_bug(hit.path) for hit in crowd),
        ssh_ratio=_median(ssh_surge) / _median(ssh_idle) if ssh_idle else float("nan"),
        monit_ratio=_median(monit_surge) / _median(monit_idle) if monit_idle else None,
        flapped_back=_flapped_back(record),
        alert_after_back=max(arrivals) - record.back if record.back is not None and arrivals and None not in arrivals
        else None,
        seen_after_back=recovered - record.back
        if record.scenario in (NET_CUT, MON_DOWN, DISK_FULL) and recovered is not None else None,
        alert_mails=max((sum(when >= detected for when in times) for times in record.alerts.values()), default=None)
        if detected is not None else None,
        newcomers=browsing([hit for hit in record.hits if hit.client == "newcomer"], surge_start),
        replica_lag=max((lag for when, lag in record.replica_lag
                         if when >= surge_start and (record.broken is None or when < record.broken)), default=None),
    )


def _answered_at_once(hit) -> bool:
    """A search answered with its results or the busy page (429, 503), within SEARCH_WITHIN."""
    return hit.status in (200, 429, 503) and hit.seconds <= SEARCH_WITHIN


def _round_trips_ms(samples: list[tuple[float, float]], surge_start: float) -> tuple[list[float], list[float]]:
    """Round trips in milliseconds: those begun before the surge, and those from its start on."""
    idle, surge = [], []
    for when, took in samples:
        (idle if when < surge_start else surge).append(took * 1000)
    return idle, surge


def _share(hits) -> float:
    """The share of ``hits`` served (or of booleans true)."""
    oks = [hit if isinstance(hit, bool) else hit.ok for hit in hits]
    return sum(oks) / len(oks) if oks else float("nan")


def _at_most(value: float | None, bound: float) -> bool:
    return value is not None and value <= bound  # NaN compares false: no figure, no goal


def _at_least(value: float | None, bound: float) -> bool:
    return value is not None and value >= bound


def _fault_started(result: Figures) -> bool:
    return result.fault_started is not None


def _detected_in_time(result: Figures) -> bool:
    return _at_most(result.mttd, result.detect_within)


def _loop_fired(result: Figures) -> bool:
    return result.loop_armed is not None and result.loop_started is not None and _at_least(
        result.loop_worker_cpu, LOOPING_CPU)


# The goals a protected run must meet (issues 9 and 23): the figure each is measured by
# (a dotted path into Figures), what the goal says, and whether a run's figures meet it.
GOALS: dict[str, tuple[str, Callable[[Figures], bool]]] = {
    "loop_worker_cpu": (f"the loop fired: armed, started on the host, its worker at {LOOPING_CPU} % of a CPU or more",
                        _loop_fired),
    "slow_log_loops": ("the loop's PHP stack in PHP-FPM's slow log",
                       lambda result: _at_least(result.slow_log_loops, 1)),
    "visitors.served": ("at least 99.5 % of visitors' requests served during the surge",
                        lambda result: _at_least(result.visitors.served, 0.995)),
    "visitors.latency_ratio": (f"visitors' median latency in the surge at most 2x the idle median "
                               f"(each over {MIN_SAMPLES} requests or more)",
                               lambda result: _at_most(result.visitors.latency_ratio, 2)),
    "visitors.p99_ms": ("visitors' p99 latency in the surge under 250 ms",
                        lambda result: _at_most(result.visitors.p99_ms, 250)),
    "members.served": ("at least 95 % of members' requests (answered by PHP, never the cache) served in the surge",
                       lambda result: _at_least(result.members.served, 0.95)),
    "members.p99_ms": ("members' p99 latency in the surge under 2 s",
                       lambda result: _at_most(result.members.p99_ms, 2000)),
    "mttd": ("the loop stopped and reported by Monit within the pool's request timeout and 2 Monit cycles",
             _detected_in_time),
    "mttr_cycles": ("healthy again within 1 cycle of detection", lambda result: _at_most(result.mttr_cycles, 1)),
    "alert_delay": ("the alert mail delivered within 60 s", lambda result: _at_most(result.alert_delay, 60)),
    "alerts_lost": ("every expected alert delivered",
                    lambda result: result.alerts_expected > 0 and result.alerts_lost == 0),
}


# What the crowd adds (issue 17): its page views served and fast, its searches answered at
# once, the host still answering its administrators, and a crowd that is one indeed.
CROWD_GOALS: dict[str, tuple[str, Callable[[Figures], bool]]] = {
    "crowd_per_second": (f"the crowd sends at least 5x what PHP renders uncached ({UNCACHED_CAPACITY} pages/s)",
                         lambda result: _at_least(result.crowd_per_second, 5 * UNCACHED_CAPACITY)),
    "crowd.served": ("at least 99.5 % of the crowd's page views served with the page",
                     lambda result: _at_least(result.crowd.served, 0.995)),
    "crowd.p99_ms": ("the crowd's page views' p99 latency at most 1 s",
                     lambda result: _at_most(result.crowd.p99_ms, 1000)),
    "searches_answered": (f"every search the bug does not hit answered (results or the busy page) within "
                          f"{SEARCH_WITHIN} s", lambda result: result.searches > 0 and result.searches_answered == 1),
    "ssh_ratio": ("ssh round trips in the surge at most 1.5x idle (medians)",
                  lambda result: _at_most(result.ssh_ratio, 1.5)),
    "monit_ratio": ("`monit summary` round trips in the surge at most 1.5x idle (medians)",
                    lambda result: _at_most(result.monit_ratio, 1.5)),
}


# A fault of the matrix, mid-crowd: the pages still served (the cache), the fault seen,
# healed and told.
RECOVER_WITHIN = 60  # seconds from detection: a restart, its start timeout (MariaDB's recovery)
FAULT_GOALS: dict[str, tuple[str, Callable[[Figures], bool]]] = {
    "fault_started": ("the fault broke the service", _fault_started),
    **{key: GOALS[key] for key in ("visitors.served", "visitors.p99_ms")},
    **{key: CROWD_GOALS[key] for key in ("crowd.served", "crowd.p99_ms")},
    "mttd": ("the fault seen by Monit within the pool's request timeout and 2 Monit cycles (a hang only its probe "
             "sees: the probe's failed cycles, each a cycle and its timeout, and a cycle)", _detected_in_time),
    "mttr": (f"healthy again within {RECOVER_WITHIN} s of detection",
             lambda result: _at_most(result.mttr, RECOVER_WITHIN)),
    **{key: GOALS[key] for key in ("alert_delay", "alerts_lost")},
}


# The web host dead mid-crowd (issue 16's goals): the standby answers within 5 s, the
# requests in flight at the death retried by the clients as browsers do, the dead host back
# without taking the address back mid-traffic, the move mailed.
TAKEOVER_WITHIN = 5
REPLICA_LAG_WITHIN = 1.0  # seconds: a write on the primary is on the standby within a second under the crowd
WEB_DOWN_GOALS: dict[str, tuple[str, Callable[[Figures], bool]]] = {
    "fault_started": ("the web host was cut off", _fault_started),
    "mttd": (f"the standby answers at the service address within {TAKEOVER_WITHIN} s",
             lambda result: _at_most(result.mttd, TAKEOVER_WITHIN)),
    "visitors.served": ("at least 99 % of visitors' requests served during the surge",
                        lambda result: _at_least(result.visitors.served, 0.99)),
    "crowd.served": ("at least 99 % of the crowd's page views served with the page",
                     lambda result: _at_least(result.crowd.served, 0.99)),
    "flapped_back": ("the dead host back: the address stays on the standby (no flap mid-traffic)",
                     lambda result: result.flapped_back is False),
    "replica_lag": (f"the standby's database at most {REPLICA_LAG_WITHIN:g} s behind the primary's in the surge, "
                    "before the death", lambda result: _at_most(result.replica_lag, REPLICA_LAG_WITHIN)),
    **{key: GOALS[key] for key in ("alert_delay", "alerts_lost")},
}


# A fault while the mail relay is down: the alert waits in Monit's queue, and arrives once
# the relay is back, within a minute, once.
RELAY_GOALS: dict[str, tuple[str, Callable[[Figures], bool]]] = {
    **{key: goal for key, goal in FAULT_GOALS.items() if key != "alert_delay"},
    "alert_after_back": ("the alert mail delivered within 60 s of the relay's return (never before: it was down)",
                         lambda result: result.alert_after_back is not None and 0 <= result.alert_after_back <= 60),
    "alert_mails": ("each contact mailed about it once, not twice", lambda result: result.alert_mails == 1),
}


# The network between the monitor and the web host cut: the site served all along, the
# monitor's alert about the host it lost within its own bound and mailed, the host seen
# again soon after the network's return.
SEEN_AGAIN_WITHIN = 30
NET_CUT_GOALS: dict[str, tuple[str, Callable[[Figures], bool]]] = {
    **{key: goal for key, goal in FAULT_GOALS.items() if key != "mttr"},
    "fault_started": ("the network was cut", _fault_started),
    "mttd": ("the monitor's alert about the host within its host_down_after, 2 scrapes and an evaluation",
             _detected_in_time),
    "seen_after_back": (f"the monitor scrapes the host again within {SEEN_AGAIN_WITHIN} s of the network's return",
                        lambda result: _at_most(result.seen_after_back, SEEN_AGAIN_WITHIN)),
}


# The monitor host dead: the site served all along, and Healthchecks.io, the dead-man switch,
# tells each first-tier contact once within the heartbeat's period, timeout and grace, and
# says the host up again soon after its return.
MON_DOWN_GOALS: dict[str, tuple[str, Callable[[Figures], bool]]] = {
    "fault_started": ("the monitor host was cut off", _fault_started),
    **{key: FAULT_GOALS[key] for key in ("visitors.served", "visitors.p99_ms", "crowd.served", "crowd.p99_ms")},
    "mttd": ("Healthchecks.io says the monitor host down within its heartbeat's period, its check's timeout and "
             "grace (and half a second of its alert loop)", _detected_in_time),
    "alerts_lost": ("every first-tier contact told", GOALS["alerts_lost"][1]),
    "alert_mails": ("each told once, not twice", lambda result: result.alert_mails == 1),
    "seen_after_back": (f"said up again within {SEEN_AGAIN_WITHIN} s of the host's return",
                        lambda result: _at_most(result.seen_after_back, SEEN_AGAIN_WITHIN)),
}


# The web host's disk full: the site served all along, pages new to the cache too, Monit's
# mail about it within the cycles its rule waits before alerting and one more, once to each
# first-tier contact, and its mail about the disk freed soon after it was.
DISK_FULL_GOALS: dict[str, tuple[str, Callable[[Figures], bool]]] = {
    "fault_started": ("the web host's disk was filled", _fault_started),
    **{key: FAULT_GOALS[key] for key in ("visitors.served", "visitors.p99_ms", "crowd.served", "crowd.p99_ms")},
    "newcomers.served": ("at least 99.5 % of the pages new to the cache (nginx must fetch and store them) served in "
                         "the surge", lambda result: _at_least(result.newcomers.served, 0.995)),
    "mttd": ("Monit's mail about the disk over its space limit within the cycles its rule waits and one more",
             _detected_in_time),
    **{key: GOALS[key] for key in ("alert_delay", "alerts_lost")},
    "alert_mails": ("each contact mailed about it once, not twice", lambda result: result.alert_mails == 1),
    "seen_after_back": (f"Monit's mail about the disk within its limit again within {SEEN_AGAIN_WITHIN} s of its "
                        "freeing",
                        lambda result: _at_most(result.seen_after_back, SEEN_AGAIN_WITHIN)),
}


def goals_of(scenario: str) -> dict[str, tuple[str, Callable[[Figures], bool]]]:
    """The goals a protected run of ``scenario`` must meet."""
    if scenario == WEB_DOWN:
        return WEB_DOWN_GOALS
    if scenario == NET_CUT:
        return NET_CUT_GOALS
    if scenario == MON_DOWN:
        return MON_DOWN_GOALS
    if scenario == DISK_FULL:
        return DISK_FULL_GOALS
    if scenario in FAULTS and FAULTS[scenario].relay_down_for:
        return RELAY_GOALS
    if scenario in FAULTS:
        return FAULT_GOALS
    return {**GOALS, **(CROWD_GOALS if scenario == "crowd" else {})}


def value(result: Figures, key: str):
    """The figure at ``key``, a dotted path into ``result`` ("visitors.served")."""
    return operator.attrgetter(key)(result)


def goals(result: Figures) -> dict[str, tuple[float | None, bool]]:
    """Each goal of a protected run: the measured value and whether it is met."""
    return {key: (value(result, key), met(result)) for key, (_, met) in goals_of(result.scenario).items()}


def timeline_series(record: Record, bin_seconds: float = 1.0) -> dict[str, list]:
    """Per time bin: the share of visitors', members' and the crowd's page views served, the
    visitors' median and slowest latency; and the app's CPU."""
    bins: dict[int, list] = {}
    for hit in record.hits:
        if hit.client.startswith(("visitor", "member")) or hit.client.startswith("crowd") and not is_search(hit.path):
            bins.setdefault(int(hit.sent // bin_seconds), []).append(hit)
    keys = sorted(bins)

    def of(kind: str, key: int) -> list:
        return [hit for hit in bins[key] if hit.client.startswith(kind)]

    return {
        "t": [key * bin_seconds for key in keys],
        "success": [100 * _share(of("visitor", key)) for key in keys],
        "members_success": [100 * _share(of("member", key)) for key in keys],
        "crowd_success": [100 * _share(of("crowd", key)) for key in keys],  # its page views; NaN: none
        "p50_ms": [_median([hit.seconds * 1000 for hit in of("visitor", key)]) for key in keys],
        "max_ms": [max((hit.seconds * 1000 for hit in of("visitor", key)), default=float("nan")) for key in keys],
        "app_cpu": app_cpu(record),
    }
