"""One deploy at a time per host: a lock taken by the deploy's first operations on each
host and released by its last (templates/base/run/holdfast-deploy-lock.j2 says how a holder is
named and when a lock is stale).

pyinfra plans every host first, then runs the operations in order: the lock is an
operation, so it is taken when execution reaches the host (``--dry`` takes none), and a
host whose lock another deploy holds fails there, before any change, while the other
hosts go on.
"""

import getpass
import os
import shlex
import socket
import time
import uuid

from pyinfra.api import StringCommand, operation

from holdfast.in_place import ThenRead
from holdfast.templates import render

LOCK_DIR = "/run/holdfast"
# This deploy (one pyinfra process), the same on every host: its rank among deploys started
# together (oldest first; the token breaks ties) and its holder's name.
ORDER = f"{time.time_ns():020d}-{uuid.uuid4().hex}"
HOLDER = f"{getpass.getuser()}@{socket.gethostname()} (pyinfra pid {os.getpid()})"
ACQUIRE = "Take the deploy lock (one deploy at a time)"
CONFIRM = "Hold the deploy lock (or yield it to an older deploy started together)"
RELEASE = "Release the deploy lock"
# Operations that run on every deploy, whatever it changes: not changes of the hosts.
LOCK_OPERATIONS = (ACQUIRE, CONFIRM, RELEASE)


def lock_command(action: str) -> StringCommand:
    """The lock script, sent inline, run for ``action`` (acquire, confirm or release)."""
    script = render("base/run/holdfast-deploy-lock.j2", lock_dir=LOCK_DIR)
    return StringCommand("bash", "-c", shlex.quote(script), "holdfast-deploy-lock", action, ORDER, shlex.quote(HOLDER))


@operation(is_idempotent=False)
def deploy_lock(action: str):
    """
    Take or release this deploy's lock on the host.

    + action: ``acquire`` and ``confirm`` (the first two operations of a deploy: pyinfra runs
      each operation on every host before the next), or ``release`` (the last)

    Confirming also reads what the host's operations compare (``in_place``), in the same
    command: a held lock is the first moment the read cannot go stale by another deploy.
    """
    yield ThenRead(lock_command(action)) if action == "confirm" else lock_command(action)


def take_deploy_lock() -> None:
    deploy_lock(name=ACQUIRE, action="acquire")
    deploy_lock(name=CONFIRM, action="confirm")


def release_deploy_lock() -> None:
    deploy_lock(name=RELEASE, action="release")
