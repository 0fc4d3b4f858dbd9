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


@pytest.mark.disruptive
def test_two_deploys_started_together_one_runs_the_other_names_it(pytestconfig, targets):
    inventory = pytestconfig.getoption("inventory")
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
