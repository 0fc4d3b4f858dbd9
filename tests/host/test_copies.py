"""The primary's directories copied to the other web hosts on the lab (holdfast/copies.py):
a file written on the primary is on the standby within copy_every, and a file it deletes
goes there too; the standby tells the monitor when it last copied."""

import secrets
import time

import pytest

from holdfast import copies
from lab.harness.probes import wait_for

SLACK = 10  # seconds beyond copy_every: the timer's accuracy and rsync's own time


@pytest.fixture(scope="module")
def pair(targets):
    """(primary, standby, directory, copy_every)."""
    web = [target for target in targets.values() if "web" in target.groups]
    if len(web) < 2 or not copies.active(web[0].settings):
        pytest.skip("nothing copied between web hosts here")
    primary = copies.source(web[0].settings)
    standby = next(target for target in web if target.name != primary)
    policy = web[0].settings.failover
    return targets[primary].testinfra, standby.testinfra, policy.copied[0], policy.copy_every


def test_a_file_written_on_the_primary_reaches_the_standby_and_its_deletion_too(pair):
    primary, standby, directory, every = pair
    name, content = f"holdfast-probe-{secrets.token_hex(4)}.txt", secrets.token_hex(16)
    primary.check_output(f"echo {content} > {directory}/{name}")
    written = time.monotonic()
    try:
        assert wait_for(lambda: standby.run(f"cat {directory}/{name}").stdout.strip() == content,
                        timeout=every + SLACK), f"not on the standby within {every + SLACK} s"
        print(f"copied to the standby {time.monotonic() - written:.1f} s after it was written (copy_every {every} s)")
    finally:
        primary.check_output(f"rm -f {directory}/{name}")
    assert wait_for(lambda: not standby.file(f"{directory}/{name}").exists, timeout=every + SLACK)


def test_the_standby_says_when_it_last_copied(pair):
    _, standby, _, every = pair
    copied = float(standby.check_output(f"sed -n 's/^holdfast_copy_success_timestamp_seconds //p' {copies.TEXTFILE}"))
    assert time.time() - copied <= every + SLACK
