"""How long an ssh command to a web host takes while the stand-in's loop runs (figures, not a test).

    .venv/bin/python -m bench.ssh_latency [ROUNDS]

Times `ssh HOST true` from this machine to the first lab web host: idle; while the
stand-in loops in as many PHP-FPM workers as the host has CPUs plus one (held by its
slice); and, for reference, while the same number of loops run outside any slice (what
the loop would do unconfined). The conditions take turns, a few runs each per round, so
that load from elsewhere on the machine weighs on all of them alike. Prints median and
90th percentile of each, and the ratio loop / idle (goal: at most 1.5). Needs the lab
up and deployed.
"""

import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from holdfast import loading
from holdfast.slices import slice_unit
from lab.harness.deploys import lab_inventory
from lab.site import standin_site
from lab.topology import LAB

GOAL = 1.5


def ssh(host: str, command: str) -> str:
    return subprocess.run(
        ["ssh", "-F", str(LAB.ssh_config), host, command], check=True, capture_output=True, text=True
    ).stdout.strip()


RUNS_PER_ROUND = 5


def latencies(host: str) -> list[float]:
    ssh(host, "true")  # warm up
    timings = []
    for _ in range(RUNS_PER_ROUND):
        started = time.monotonic()
        ssh(host, "true")
        timings.append(time.monotonic() - started)
    return timings


def while_running(host: str, start: str, stop: str) -> list[float]:
    ssh(host, start)
    try:
        time.sleep(1)  # let the loops get going
        return latencies(host)
    finally:
        ssh(host, stop)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    host = LAB.group("web")[0].name
    host_settings = loading.load(lab_inventory())[host]
    site = standin_site(host_settings)
    placed = host_settings.services[site.backend.service].slice
    loops = int(ssh(host, "nproc")) + 1
    burn = " && ".join(f"systemd-run --quiet --unit=bench-burn-{n} sh -c 'while :; do :; done'" for n in range(loops))
    conditions: list[tuple[str, Callable[[], list[float]]]] = [
        ("idle", lambda: latencies(host)),
        (f"{loops} stand-in loops in {slice_unit(placed)} (CPUQuota {host_settings.slices[placed].CPUQuota:g}%)",
         lambda: while_running(host, " && ".join(["standin loop"] * loops), "standin heal")),
        (f"{loops} loops outside any slice (reference)",
         lambda: while_running(host, burn, "systemctl stop 'bench-burn-*'")),
    ]
    rows = [(label, []) for label, _ in conditions]
    for _ in range(rounds):
        for (_, timings), (_, measure) in zip(rows, conditions, strict=True):
            timings += measure()
    width = max(len(label) for label, _ in rows)
    print(f"ssh {host} true from this machine, {rounds} rounds of {RUNS_PER_ROUND} runs per condition")
    print(f"{'condition':{width}}  median s  p90 s  x idle")
    idle = statistics.median(rows[0][1])
    for label, timings in rows:
        median = statistics.median(timings)
        p90 = statistics.quantiles(timings, n=10)[-1]
        print(f"{label:{width}}  {median:8.3f}  {p90:5.3f}  {median / idle:6.2f}")
    ratio = statistics.median(rows[1][1]) / idle
    print(f"loop / idle: {ratio:.2f} (goal: at most {GOAL}) {'met' if ratio <= GOAL else 'NOT met'}")


if __name__ == "__main__":
    main()
