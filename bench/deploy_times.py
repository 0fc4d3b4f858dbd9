"""Lab boot and deploy times, printed as figures (not a test).

    .venv/bin/python -m bench.deploy_times

Takes the lab down first, so "lab up" is measured from nothing but the cached base
image; then the lab's own deploy, the first Holdfast deploy on fresh hosts, and a
no-op redeploy (which must report zero changes).
"""

import subprocess
import sys
import time

from lab.topology import LAB
from tests.deploys import run_deploy


def timed(label: str, action) -> tuple[str, float, object]:
    started = time.monotonic()
    result = action()
    return label, time.monotonic() - started, result


def lab(action: str) -> None:
    subprocess.run([sys.executable, "-m", "lab", action], check=True, capture_output=True)


def deploy(deploy_file: str):
    def action():
        run = run_deploy("inventories/lab.py", deploy_file)
        if run.returncode != 0:
            sys.exit(f"{deploy_file} failed:\n{run.output[-3000:]}")
        return run

    return action


def main() -> None:
    lab("down")
    rows = [
        timed(f"lab up ({len(LAB.hosts)} hosts, to SSH-ready)", lambda: lab("up")),
        timed("lab deploy (stand-in site, mail sink)", deploy("lab/deploy.py")),
        timed("first Holdfast deploy", deploy("deploy.py")),
        timed("no-op Holdfast redeploy", deploy("deploy.py")),
    ]
    width = max(len(label) for label, _, _ in rows)
    print(f"{'step':{width}}  seconds  changed operations")
    for label, seconds, result in rows:
        changed = len(result.changed_operations) if result else ""
        print(f"{label:{width}}  {seconds:7.1f}  {changed}")


if __name__ == "__main__":
    main()
