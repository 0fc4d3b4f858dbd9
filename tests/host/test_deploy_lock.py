"""One deploy at a time per host: of two deploys started together, one completes and the
other stops on every host with the holder's name, running nothing past the lock; the lock is
released at the end, so the next deploy runs and changes nothing."""

import getpass
import re
import socket

import pytest

from holdfast.deploy_lock import ACQUIRE, CONFIRM, LOCK_DIR
from lab.harness.deploys import finish, run_deploy, start_deploy

LOCK = f"{LOCK_DIR}/deploy.lock"
# Holds the lock script's mutex until both deploys wait on it (their two flocks and this
# one), so that the two overlap on every host: a no-op is quick enough for the first to
# finish before the second reaches its lock, and both would complete (each in turn).
HOLD_UNTIL_BOTH_WAIT = (
    f"mkdir -p -m 700 {LOCK_DIR}; nohup timeout 60 flock {LOCK}.mutex "
    "sh -c 'until [ \"$(pgrep -cx flock)\" -ge 3 ]; do sleep 0.05; done' </dev/null >/dev/null 2>&1 &"
)


@pytest.mark.disruptive
def test_two_deploys_started_together_one_runs_the_other_names_it(pytestconfig, targets):
    inventory = pytestconfig.getoption("inventory")
    for target in targets.values():
        target.testinfra.check_output(HOLD_UNTIL_BOTH_WAIT)
    processes = [start_deploy(inventory), start_deploy(inventory)]
    runs = [finish(process) for process in processes]
    completed = [index for index, run in enumerate(runs) if run.returncode == 0]
    assert len(completed) == 1, "\n\n".join(run.output[-2000:] for run in runs)
    winner, loser = processes[completed[0]], processes[1 - completed[0]]
    stopped = runs[1 - completed[0]]

    holder = f"{getpass.getuser()}@{socket.gethostname()} (pyinfra pid {winner.pid})"
    assert f"pyinfra pid {loser.pid}" not in stopped.output
    for name in targets:
        assert f"[{name}] holdfast: another deploy holds this host: {holder}" in stopped.output
    started = re.findall(r"^--> Starting operation: (.*?) ?$", stopped.output, re.MULTILINE)
    assert set(started) == {ACQUIRE, CONFIRM} or started == [ACQUIRE], stopped.output[-3000:]
    for target in targets.values():
        assert not target.testinfra.file(LOCK).exists

    after = run_deploy(inventory)
    assert after.returncode == 0, after.output[-3000:]
    assert after.changed_operations == [], after.output[-3000:]
