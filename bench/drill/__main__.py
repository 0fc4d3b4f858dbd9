"""``make drill``: the seed's outage on the lab, with Holdfast and without, side by side.

    .venv/bin/python -m bench.drill [--scenario NAME] [--short] [--protected-only] [--out bench/out]

Every scenario (bench/drill/scenario.py), or the one named. With Holdfast: the lab as
`make demo` leaves it. Without: a twin lab ("bare", its own bridge and subnet) whose web
host runs the same stand-in behind a plain nginx, with no limits, no slices and no Monit;
it is brought up for the drill and taken down after. Prints a table per scenario, writes
drill-SCENARIO.json and drill-SCENARIO.png in --out.
"""

import argparse
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

from bench.drill import report, scenario
from bench.drill.figures import figures
from holdfast import loading
from lab.harness.deploys import lab_inventory, run_deploy
from lab.topology import FLEET, LAB, LAB_INVENTORY, Lab

BARE = Lab("bare", ipaddress.ip_network(os.environ.get("HOLDFAST_DRILL_BARE_SUBNET", "10.122.0.0/24")), 1)


def _bare_lab(action: str) -> None:
    """``python -m lab <action>`` for the bare lab; exits with its output if it fails."""
    command = (sys.executable, "-m", "lab", action)
    result = subprocess.run(command, env=BARE.environment(), capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{(result.stdout + result.stderr)[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drill", description=__doc__)
    parser.add_argument("--scenario", choices=scenario.SCENARIOS, help="this scenario only (default: every one)")
    parser.add_argument("--short", action="store_true", help="the short timeline the CI test uses")
    parser.add_argument("--protected-only", action="store_true", help="skip the runs without Holdfast")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    options = parser.parse_args()
    timeline = scenario.SHORT if options.short else scenario.FULL
    host_settings = loading.load(lab_inventory())[LAB.group("web")[0].name]
    scenarios = [options.scenario] if options.scenario else list(scenario.SCENARIOS)

    records = {name: [scenario.run("with Holdfast", LAB, host_settings, True, timeline, name)] for name in scenarios}
    if not options.protected_only:
        print("[drill] bringing up the lab without Holdfast (bare)", file=sys.stderr, flush=True)
        _bare_lab("up")
        try:
            deployed = run_deploy(LAB_INVENTORY, deploy_file="lab/unprotected.py", cwd=FLEET, env=BARE.environment())
            if deployed.returncode != 0:
                sys.exit(f"lab/unprotected.py failed:\n{deployed.output[-3000:]}")
            for name in scenarios:
                records[name].append(scenario.run("without Holdfast", BARE, host_settings, False, timeline, name))
        finally:
            _bare_lab("down")

    options.out.mkdir(parents=True, exist_ok=True)
    for name, runs_of in records.items():
        runs = [figures(record) for record in runs_of]
        print(f"\n# scenario {name}\n{report.table(runs)}")
        report.write_json(options.out / f"drill-{name}.json", runs, runs_of)
        report.write_plot(options.out / f"drill-{name}.png", runs_of)
        print(f"\nwrote {options.out / f'drill-{name}.json'} and {options.out / f'drill-{name}.png'}")


if __name__ == "__main__":
    main()
