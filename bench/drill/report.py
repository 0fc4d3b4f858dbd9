"""The drill's report: a table on the terminal (with and without Holdfast side by side),
the figures and time series as JSON, and a plot of visitors' success and latency."""

import json
import math
import sys
from pathlib import Path

from bench.drill.figures import Figures, figures, goals, goals_of, timeline_series, value
from bench.drill.scenario import DISK_FULL, MATRIX, MON_DOWN, NET_CUT, RELAY_DOWN, WEB_DOWN, Record

ROWS = [  # (figure, label, format, the scenario it belongs to: None for every one)
    *((f"{kind}.{key}", f"{kind} {label}", form, None) for kind in ("visitors", "members") for key, label, form in (
        ("idle_served", "served, idle", "{:.1%}"),
        ("served", "served, surge", "{:.1%}"),
        ("idle_p50_ms", "p50 idle (ms)", "{:.1f}"),
        ("p50_ms", "p50 surge (ms)", "{:.1f}"),
        ("p99_ms", "p99 surge (ms)", "{:.1f}"),
        ("latency_ratio", "p50 surge / p50 idle", "{:.2f}"),
    )),
    ("crowd.served", "crowd page views served, surge", "{:.1%}", "crowd"),
    ("crowd.p50_ms", "crowd page views p50 surge (ms)", "{:.1f}", "crowd"),
    ("crowd.p99_ms", "crowd page views p99 surge (ms)", "{:.1f}", "crowd"),
    ("crowd_per_second", "crowd requests a second", "{:.1f}", "crowd"),
    ("searches", "crowd searches (bug not hit)", "{}", "crowd"),
    ("searches_answered", "crowd searches answered within 2 s", "{:.1%}", "crowd"),
    ("searches_busy", "crowd searches given the busy page", "{}", "crowd"),
    ("bug_searches", "crowd searches hitting the bug", "{}", "crowd"),
    ("attacker_sent", "attacker requests", "{}", "abuser"),
    ("attacker_429", "attacker answered 429", "{}", "abuser"),
    ("attacker_served", "attacker served 200", "{}", "abuser"),
    ("attacker_failed", "attacker no answer (banned) or failed", "{}", "abuser"),
    ("probes_success", "monitor probes OK, surge", "{:.1%}", None),
    ("app_cpu_before_loop", "app CPU before the loop (% of a CPU)", "{:.0f}", None),
    ("app_cpu_looping", "app CPU while looping (% of a CPU)", "{:.0f}", None),
    ("loop_worker_cpu", "the looping worker's CPU (% of a CPU)", "{:.0f}", None),
    ("slow_log_loops", "loop stacks in the slow log", "{}", None),
    ("ssh_idle_ms", "ssh round trip idle (ms)", "{:.0f}", None),
    ("ssh_surge_ms", "ssh round trip surge (ms)", "{:.0f}", None),
    ("monit_idle_ms", "monit summary idle (ms)", "{:.0f}", None),
    ("monit_surge_ms", "monit summary surge (ms)", "{:.0f}", None),
    ("ssh_ratio", "ssh surge / idle", "{:.2f}", None),
    ("monit_ratio", "monit summary surge / idle", "{:.2f}", None),
    ("fault_started", "the fault (the loop) began (s)", "{:.1f}", None),
    ("mttd", "the fault to detection (s)", "{:.1f}", None),
    ("mttr", "detection to healthy (s)", "{:.1f}", None),
    ("alert_delay", "detection to alert mail (s)", "{:.1f}", None),
    ("alerts_lost", "alerts lost", "{}", None),
    ("flapped_back", "dead host took its address back", "{}", WEB_DOWN),
    ("replica_lag", "standby's database behind, surge before the death (s, at most)", "{:.2f}", WEB_DOWN),
    ("alert_after_back", "relay back to the alert mail (s)", "{:.1f}", RELAY_DOWN),
    ("alert_mails", "alert mails per contact, at most", "{}", RELAY_DOWN),
    ("seen_after_back", "network back to the host scraped (s)", "{:.1f}", NET_CUT),
    ("alert_mails", "told it was down, per contact, at most", "{}", MON_DOWN),
    ("seen_after_back", "host back to told it is up (s)", "{:.1f}", MON_DOWN),
    ("newcomers.served", "pages new to the cache served, surge", "{:.1%}", DISK_FULL),
    ("newcomers.requests", "pages new to the cache asked, surge", "{}", DISK_FULL),
    ("alert_mails", "alert mails per contact, at most", "{}", DISK_FULL),
    ("seen_after_back", "disk freed to told so (s)", "{:.1f}", DISK_FULL),
]


def rows_of(scenario: str) -> list[tuple[str, str, str]]:
    """The table's rows for a run of ``scenario``: (figure, label, format). The crowd's rows
    are the fault matrix's too (its faults come mid-crowd)."""
    kinds = (None, scenario, "crowd") if scenario in MATRIX else (None, scenario)
    return [(key, label, form) for key, label, form, belongs in ROWS if belongs in kinds]


def _cell(figure, form: str) -> str:
    """A figure as the table shows it: "never" for a time that never came, "-" for no figure."""
    if figure is None:
        return "never" if form == "{:.1f}" else "-"
    return "-" if isinstance(figure, float) and math.isnan(figure) else form.format(figure)


def table(runs: list[Figures]) -> str:
    """The figures of each run side by side; with two runs, the ratio of the second to the first."""
    head = f"{'':36}" + "".join(f"{run.label:>18}" for run in runs) + ("   ratio" if len(runs) == 2 else "")
    lines = [head]
    for key, label, form in rows_of(runs[0].scenario):
        values = [value(run, key) for run in runs]
        line = f"{label:36}" + "".join(f"{_cell(measured, form):>18}" for measured in values)
        if len(runs) == 2 and all(isinstance(v, int | float) and v and not math.isnan(v) for v in values):
            line += f"   {values[1] / values[0]:6.2f}x"
        lines.append(line)
    protected = next((run for run in runs if run.protected), None)
    if protected:
        lines.append("")
        lines.append(f"goals ({protected.label}):")
        for key, (measured, met) in goals(protected).items():
            shown = "-" if measured is None else f"{measured:.3g}"
            lines.append(f"  {'PASS' if met else 'FAIL'}  {goals_of(protected.scenario)[key][0]}  [{shown}]")
    return "\n".join(lines)


def write_json(path: Path, runs: list[Figures], records: list[Record]) -> None:
    path.write_text(json.dumps({
        "runs": [run.as_dict() for run in runs],
        "goals": {run.label: {key: {"value": measured, "met": met} for key, (measured, met) in goals(run).items()}
                  for run in runs if run.protected},
        "series": {record.label: timeline_series(record) for record in records},
    }, indent=1))


TITLES = {
    "crowd": "The seed's outage replayed: a crowd, and a loop every search for its word hits",
    "abuser": "The seed's outage replayed: a flooding client, then an infinite loop",
    WEB_DOWN: "The web host dies mid-crowd: the second one takes over the site's address",
    NET_CUT: "The network between the monitor and the web host cut mid-crowd",
    MON_DOWN: "The monitor host dies mid-crowd: the hosted dead-man switch tells",
    DISK_FULL: "The web host's disk fills up mid-crowd, and is freed",
}


def write_plot(path: Path, records: list[Record]) -> None:
    """Over time, one colour per run: the share served (visitors, members, the crowd's page
    views) against the 99.5 % goal, the visitors' latency, and the application's CPU; marked:
    the surge, the loop's start (dashed), its detection (dotted), recovery (dash-dot) and each
    alert mail's arrival (a tick at the top)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (served, latency, cpu) = pyplot.subplots(3, 1, sharex=True, figsize=(10, 8.5))
    timeline = records[0].timeline
    for record, color in zip(records, ("tab:blue", "tab:orange"), strict=False):
        series, result = timeline_series(record), figures(record)
        served.plot(series["t"], series["success"], color=color, label=f"{record.label}, visitors")
        served.plot(series["t"], series["members_success"], color=color, linestyle=":",
                    label=f"{record.label}, members (never cached)")
        if record.scenario != "abuser":  # the crowd, and the faults mid-crowd
            served.plot(series["t"], series["crowd_success"], color=color, linestyle="--",
                        label=f"{record.label}, the crowd's page views")
        latency.plot(series["t"], series["p50_ms"], color=color, label=f"{record.label}, median")
        latency.plot(series["t"], series["max_ms"], color=color, linestyle=":", label=f"{record.label}, slowest")
        if series["app_cpu"]:
            cpu.plot(*zip(*series["app_cpu"], strict=True), color=color, label=record.label)
        for axis in (served, latency, cpu):
            for when, style in ((result.fault_started, "--"), (result.detected, ":"), (result.recovered, "-.")):
                if when is not None:
                    axis.axvline(when, color=color, linestyle=style, alpha=0.6)
        for arrivals in record.alerts.values():
            served.plot(arrivals, [103] * len(arrivals), marker="|", markersize=12, linestyle="", color=color)
    for axis in (served, latency, cpu):
        axis.axvspan(timeline.idle, timeline.idle + timeline.surge, color="orange", alpha=0.12)
    served.axhline(99.5, color="green", linewidth=0.8, label="goal: 99.5 % served")
    served.set_ylabel("requests served (%)")
    served.set_ylim(-5, 108)
    served.legend(loc="lower left", fontsize="small")
    latency.set_ylabel("visitor latency (ms)")
    latency.set_yscale("log")
    latency.legend(loc="upper left", fontsize="small")
    cpu.set_ylabel("application CPU (% of a CPU)")
    cpu.legend(loc="upper left", fontsize="small")
    cpu.set_xlabel("seconds since the drill began (shaded: the surge; the fault (the loop) begins --, is detected :, "
                   "recovered -.; | alert mail)")
    served.set_title(TITLES.get(records[0].scenario, f"A fault mid-crowd: {records[0].scenario}"))
    figure.tight_layout()
    figure.savefig(path, dpi=110)


# --- the README's tables, from the drill's JSON (never typed) ---------------------------

def _dotted(figures: dict, key: str):
    for part in key.split("."):
        figures = figures[part]
    return figures


def markdown(drill: dict) -> str:
    """One scenario's drill JSON (``write_json``) as the README shows it: the runs side by
    side, then the goals of the run with Holdfast."""
    runs = drill["runs"]
    scenario = runs[0]["scenario"]
    lines = ["| | " + " | ".join(run["label"] for run in runs) + " |", "|---|" + "---:|" * len(runs)]
    for key, label, form in rows_of(scenario):
        lines.append(f"| {label} | " + " | ".join(_cell(_dotted(run, key), form) for run in runs) + " |")
    for label, measured in drill["goals"].items():
        lines += ["", f"Goals ({label}):", ""]
        for key, goal in measured.items():
            shown = "-" if goal["value"] is None else f"{goal['value']:.3g}"
            lines.append(f"- {'PASS' if goal['met'] else '**FAIL**'} {goals_of(scenario)[key][0]} ({shown})")
    return "\n".join(lines)


def readme_blocks(readme: str, drills: dict[str, dict]) -> str:
    """``readme`` with each scenario's block (between ``<!-- drill:NAME -->`` and
    ``<!-- /drill:NAME -->``) made from its drill JSON."""
    for name, drill in drills.items():
        opening, closing = f"<!-- drill:{name} -->", f"<!-- /drill:{name} -->"
        head, found, rest = readme.partition(opening)
        if not found or closing not in rest:
            raise ValueError(f"README.md: no {opening} ... {closing} block")
        readme = f"{head}{opening}\n{markdown(drill)}\n{closing}{rest.split(closing, 1)[1]}"
    return readme


def results(directory: Path) -> dict[str, dict]:
    """The drill-SCENARIO.json files in ``directory``, by scenario."""
    return {path.stem.removeprefix("drill-"): json.loads(path.read_text())
            for path in sorted(directory.glob("drill-*.json"))}


def main() -> None:
    """``python -m bench.drill.report RESULTS_DIR README``: the README's drill tables, from
    the drill-SCENARIO.json files in RESULTS_DIR."""
    directory, readme = map(Path, sys.argv[1:3])
    readme.write_text(readme_blocks(readme.read_text(), results(directory)))


if __name__ == "__main__":
    main()
