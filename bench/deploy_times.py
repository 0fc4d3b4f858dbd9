"""The deploy's own cost, printed as figures and ratios (not a test).

    .venv/bin/python -m bench.deploy_times

Takes the lab down first, so "lab up" is measured from nothing but the cached base
image; then the lab's own deploy, the first Holdfast deploy on fresh hosts, a no-op
redeploy (which must report zero changes) against the floor of bare fact gathering on
the same hosts, the SSH commands the no-op runs per host, and the no-op redeploy again
with 2, 10 and 20 web hosts, for the cost of each added host (each timing the median of three
runs). Checks the goals of issue 19: a no-op at most twice the floor, at most 0.2 s per added
host. Leaves the lab as `make demo` does.
"""

import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from holdfast.inventory import MONITOR_GROUP
from lab.harness.deploys import PYINFRA, REPO, run_deploy
from lab.machines import Machines
from lab.topology import FLEET, LAB, LAB_INVENTORY

WEB_HOST_COUNTS = (2, 10, 20)
# The goals of issue 19: a no-op redeploy against the floor, and what each added web host costs.
NOOP_RATIO_GOAL = 2.0
ADDED_HOST_GOAL = 0.2  # seconds
FAILED_LOG = Path(tempfile.gettempdir()) / "holdfast-bench-failed-deploy.log"


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def seconds(action) -> tuple[float, object]:
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


def median_seconds(action, runs: int = 3) -> tuple[float, object]:
    """The median of ``runs`` timings of ``action`` (a second or two each: one run is as much
    the machine's noise as the deploy's), and the last run's result."""
    timed = [seconds(action) for _ in range(runs)]
    return statistics.median(taken for taken, _ in timed), timed[-1][1]


def environment(web_hosts: int) -> dict[str, str]:
    return replace(LAB, web_hosts=web_hosts).environment()


def lab(action: str, web_hosts: int = LAB.web_hosts) -> None:
    subprocess.run([sys.executable, "-m", "lab", action], check=True, capture_output=True, env=environment(web_hosts))


def deploy(deploy_file: str = "deploy.py", web_hosts: int = LAB.web_hosts, extra: tuple[str, ...] = ()):
    def action():
        run = run_deploy(LAB_INVENTORY, *extra, deploy_file=deploy_file, cwd=FLEET, env=environment(web_hosts))
        if run.returncode != 0:
            # Whole: the host that failed first is named early, and drops out of what follows.
            FAILED_LOG.write_text(run.output)
            sys.exit(f"{deploy_file} failed (its whole output: {FAILED_LOG}):\n{run.output[-3000:]}")
        return run

    return action


def ssh_commands(log: str) -> Counter:
    """Commands pyinfra ran over SSH, per host, read from its ``--debug`` log."""
    return Counter(re.findall(r"Running command on (\S+?): \(pty=", log))


def commands_per_host(web_hosts: int = LAB.web_hosts) -> Counter:
    """The SSH commands of one no-op redeploy (run again with --debug, which slows it: not timed)."""
    return ssh_commands(deploy(web_hosts=web_hosts, extra=("--debug",))().output)


def fact_gathering(web_hosts: int = LAB.web_hosts):
    """The floor: connect to every host and read one fact, nothing else."""
    def action():
        subprocess.run([str(PYINFRA), "-y", LAB_INVENTORY, "fact", "server.Hostname"], cwd=FLEET,
                       check=True, capture_output=True, env={**environment(web_hosts), "PYTHONPATH": str(REPO)})

    return action


def main() -> None:
    lab("down", max(WEB_HOST_COUNTS))
    boot, _ = seconds(lambda: lab("up"))
    own, _ = seconds(deploy("lab/deploy.py"))
    first, _ = seconds(deploy())
    noop, run = median_seconds(deploy())
    floor, _ = median_seconds(fact_gathering())
    print(f"lab up ({len(LAB.hosts)} hosts, to SSH-ready)      {boot:6.1f} s")
    print(f"lab deploy (stand-in site, mail sink)    {own:6.1f} s")
    print(f"first Holdfast deploy                    {first:6.1f} s")
    print(f"no-op Holdfast redeploy (median of 3)    {noop:6.1f} s   {len(run.changed_operations)} operations changed")
    print(f"floor: fact gathering on the same hosts  {floor:6.1f} s   no-op / floor = {noop / floor:.2f}x "
          f"(goal: at most {NOOP_RATIO_GOAL:.0f}x) {verdict(noop / floor <= NOOP_RATIO_GOAL)}")
    counted = commands_per_host()
    print("SSH commands per host, no-op redeploy    " + ", ".join(f"{h} {n}" for h, n in sorted(counted.items())))

    print(f"\nweb hosts  hosts  no-op redeploy  floor    no-op / floor  each added host (goal: at most "
          f"{ADDED_HOST_GOAL} s)")
    previous = None
    for web_hosts in WEB_HOST_COUNTS:
        lab("up", web_hosts)
        # The monitor host's firewall first: the added hosts fetch the lab CA's root from it.
        deploy("deploy.py", web_hosts, extra=("--limit", MONITOR_GROUP))()
        deploy("lab/deploy.py", web_hosts)()
        deploy("deploy.py", web_hosts)()  # brings an added host (and the monitor's targets) in
        noop, _ = median_seconds(deploy("deploy.py", web_hosts))
        floor, _ = median_seconds(fact_gathering(web_hosts))
        added = ""
        if previous is not None:
            each = (noop - previous[1]) / (web_hosts - previous[0])
            added = f"{each:+6.2f} s  {verdict(each <= ADDED_HOST_GOAL)}"
        print(f"{web_hosts:9}  {web_hosts + 1:5}  {noop:12.1f} s  {floor:5.1f} s  {noop / floor:11.2f}x  {added}",
              flush=True)
        previous = web_hosts, noop
    larger = replace(LAB, web_hosts=max(WEB_HOST_COUNTS))
    machines = Machines(larger)
    for extra in set(larger.hosts) - set(LAB.hosts):
        machines.stop(extra)
        machines.remove(extra)
    deploy()()  # the monitor forgets the hosts removed


if __name__ == "__main__":
    main()
