"""The drill's report: a table on the terminal (with and without Holdfast side by side),
the figures and time series as JSON, and a plot of visitors' success and latency."""

import json
import math
from pathlib import Path

from bench.drill.figures import Figures, goals, goals_of, timeline_series, value
from bench.drill.scenario import Record

ROWS = [  # (figure, label, format)
    *((f"{kind}.{key}", f"{kind} {label}", form) for kind in ("visitors", "members") for key, label, form in (
        ("idle_served", "served, idle", "{:.1%}"),
        ("served", "served, surge", "{:.1%}"),
        ("idle_p50_ms", "p50 idle (ms)", "{:.1f}"),
        ("p50_ms", "p50 surge (ms)", "{:.1f}"),
        ("p99_ms", "p99 surge (ms)", "{:.1f}"),
        ("latency_ratio", "p50 surge / p50 idle", "{:.2f}"),
    )),
    ("crowd.served", "crowd page views served, surge", "{:.1%}"),
    ("crowd.p50_ms", "  p50 (ms)", "{:.1f}"),
    ("crowd.p99_ms", "  p99 (ms)", "{:.1f}"),
    ("crowd_per_second", "crowd requests a second", "{:.1f}"),
    ("searches", "crowd searches (bug not hit)", "{}"),
    ("searches_answered", "  answered within 2 s", "{:.1%}"),
    ("searches_busy", "  with the busy page", "{}"),
    ("bug_searches", "crowd searches hitting the bug", "{}"),
    ("attacker_sent", "attacker requests", "{}"),
    ("attacker_429", "  answered 429", "{}"),
    ("attacker_served", "  served 200", "{}"),
    ("attacker_failed", "  failed / timed out", "{}"),
    ("probes_success", "monitor probes OK, surge", "{:.1%}"),
    ("app_cpu_before_loop", "app CPU before the loop (% of a CPU)", "{:.0f}"),
    ("app_cpu_looping", "app CPU while looping (% of a CPU)", "{:.0f}"),
    ("loop_worker_cpu", "  the looping worker's (% of a CPU)", "{:.0f}"),
    ("slow_log_loops", "loop stacks in the slow log", "{}"),
    ("ssh_idle_ms", "ssh round trip idle (ms)", "{:.0f}"),
    ("ssh_surge_ms", "ssh round trip surge (ms)", "{:.0f}"),
    ("monit_idle_ms", "monit summary idle (ms)", "{:.0f}"),
    ("monit_surge_ms", "monit summary surge (ms)", "{:.0f}"),
    ("ssh_ratio", "ssh surge / idle", "{:.2f}"),
    ("monit_ratio", "monit summary surge / idle", "{:.2f}"),
    ("mttd", "loop to detection (s)", "{:.1f}"),
    ("mttr", "detection to healthy (s)", "{:.1f}"),
    ("alert_delay", "detection to alert mail (s)", "{:.1f}"),
    ("alerts_lost", "alerts lost", "{}"),
]


def _cell(figure, form: str) -> str:
    """A figure as the table shows it: "never" for a time that never came, "-" for no figure."""
    if figure is None:
        return "never" if form == "{:.1f}" else "-"
    return "-" if isinstance(figure, float) and math.isnan(figure) else form.format(figure)


def table(runs: list[Figures]) -> str:
    """The figures of each run side by side; with two runs, the ratio of the second to the first."""
    head = f"{'':36}" + "".join(f"{run.label:>18}" for run in runs) + ("   ratio" if len(runs) == 2 else "")
    lines = [head]
    for key, label, form in ROWS:
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


def write_plot(path: Path, records: list[Record]) -> None:
    """Visitors' share served and latency over time, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (served, latency) = pyplot.subplots(2, 1, sharex=True, figsize=(10, 6.5))
    for record, color in zip(records, ("tab:blue", "tab:orange"), strict=False):
        series = timeline_series(record)
        served.plot(series["t"], series["success"], color=color, label=f"{record.label}, visitors")
        served.plot(series["t"], series["members_success"], color=color, linestyle=":",
                    label=f"{record.label}, members (never cached)")
        if record.scenario == "crowd":
            served.plot(series["t"], series["crowd_success"], color=color, linestyle="--",
                        label=f"{record.label}, the crowd's page views")
        latency.plot(series["t"], series["p50_ms"], color=color, label=f"{record.label}, median")
        latency.plot(series["t"], series["max_ms"], color=color, linestyle=":", label=f"{record.label}, slowest")
    timeline = records[0].timeline
    for axis in (served, latency):
        axis.axvspan(timeline.idle, timeline.idle + timeline.surge, color="orange", alpha=0.12, label="surge")
        for record in records:
            if record.loop_started is not None:
                axis.axvline(record.loop_started, color="red", linestyle="--", alpha=0.5)
    served.set_ylabel("requests served (%)")
    served.set_ylim(-5, 105)
    served.legend(loc="lower left")
    latency.set_ylabel("visitor latency (ms)")
    latency.set_yscale("log")
    latency.set_xlabel("seconds since the drill began (dashed: the loop starts)")
    latency.legend(loc="upper left", fontsize="small")
    served.set_title("The seed's outage replayed: " + (
        "a crowd, and a loop every search for its word hits" if records[0].scenario == "crowd" else
        "a flooding client, then an infinite loop"))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
