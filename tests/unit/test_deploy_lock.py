"""The deploy lock's script, run here for real (this machine stands in for a host; the
holder's process is this test's): a held lock refuses a second deploy naming the holder,
a stale one is taken over, and of two deploys started together the older gets the host."""

import subprocess
import time

import pytest

from holdfast.templates import render

OLDER, YOUNGER = "00000000000000000001-a", "00000000000000000002-b"


@pytest.fixture
def lock(tmp_path):
    """Run the lock script (lock directory in tmp_path): lock(action, order, holder)."""
    script = render("base/run/holdfast-deploy-lock.j2", lock_dir=str(tmp_path))

    def run(action: str, order: str, holder: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", script, "lock", action, order, holder or f"holder-{order}"],
                              capture_output=True, text=True, timeout=30)

    run.file = tmp_path / "deploy.lock"
    run.start = lambda *args: subprocess.Popen(["bash", "-c", script, "lock", *args],
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return run


def test_script_is_valid_bash():
    script = render("base/run/holdfast-deploy-lock.j2", lock_dir="/run/holdfast")
    assert script.startswith("#!/bin/bash\n# Managed by Holdfast from templates/base/")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_a_held_lock_stops_another_deploy_naming_the_holder(lock):
    assert lock("acquire", OLDER, "alice@laptop (pyinfra pid 1)").returncode == 0
    assert lock("confirm", OLDER).returncode == 0
    refused = lock("acquire", YOUNGER, "bob@desk (pyinfra pid 2)")
    assert refused.returncode == 75
    assert "another deploy holds this host: alice@laptop (pyinfra pid 1), since " in refused.stderr
    assert "holder=alice@laptop (pyinfra pid 1)" in lock.file.read_text()


def test_a_confirmed_lock_stops_even_an_older_deploy(lock):
    lock("acquire", YOUNGER)
    lock("confirm", YOUNGER)
    assert lock("acquire", OLDER).returncode == 75


def test_release_frees_the_host_for_the_next_deploy(lock):
    lock("acquire", OLDER)
    assert lock("release", YOUNGER).returncode == 0  # not its lock: kept
    assert lock.file.exists()
    lock("release", OLDER)
    assert not lock.file.exists()
    assert lock("acquire", YOUNGER).returncode == 0


def test_a_lock_whose_session_is_gone_is_taken_over(lock):
    lock("acquire", OLDER, "alice@laptop (pyinfra pid 1)")
    gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True).stdout.strip()
    held = lock.file.read_text().replace("session=", f"session={gone}\nold_session=")
    lock.file.write_text(held.replace("cgroup=", "cgroup=/user.slice/session-0.scope\nold_cgroup="))
    taken = lock("acquire", YOUNGER, "bob@desk (pyinfra pid 2)")
    assert taken.returncode == 0, taken.stderr
    assert "taking over the stale lock of alice@laptop (pyinfra pid 1)" in taken.stdout
    assert "holder=bob@desk (pyinfra pid 2)" in lock.file.read_text()


def test_of_two_deploys_started_together_the_younger_holder_yields_to_the_older(lock):
    lock("acquire", YOUNGER, "bob@desk (pyinfra pid 2)")
    older = lock.start("acquire", OLDER, "alice@laptop (pyinfra pid 1)")
    time.sleep(1)
    assert older.poll() is None  # waits: the holder has not confirmed
    yielded = lock("confirm", YOUNGER)
    assert yielded.returncode == 75
    assert "another deploy holds this host: alice@laptop (pyinfra pid 1), started at the same time" in yielded.stderr
    assert older.wait(timeout=10) == 0
    assert "holder=alice@laptop (pyinfra pid 1)" in lock.file.read_text()
