"""Deploys cut off on purpose: pyinfra SIGKILLed once a given operation has started (and a
delay has passed), as when the control machine dies or its connection drops; then what
must hold on every host whatever the cut: each service's checker accepts the live files."""

import subprocess
import threading
from pathlib import Path

from holdfast.deploy_lock import lock_command
from holdfast.inventory import MONITOR_GROUP, WATCHED_GROUP
from lab.harness.deploys import pyinfra_run
from lab.harness.probes import wait_for

# Each checker, on the hosts of a group (None: every host), run on the live files.
CHECKERS = {
    "nginx -t -q": WATCHED_GROUP,
    "php-fpm8.2 -t": WATCHED_GROUP,
    "promtool check config /etc/prometheus/prometheus.yml": MONITOR_GROUP,
    "amtool check-config /etc/prometheus/alertmanager.yml": MONITOR_GROUP,
    "monit -t": None,
    "set -- $(ls /etc/systemd/system/holdfast-* /etc/systemd/system/monit.service 2>/dev/null); "
    '[ "$#" = 0 ] || systemd-analyze verify "$@"': None,
}


def killed_deploy(inventory: str, *extra: str, operation: str, delay: float, cwd: Path | None = None) -> None:
    """Run ``pyinfra -y EXTRA... INVENTORY deploy.py`` in the project ``cwd`` and SIGKILL it
    ``delay`` seconds after it starts ``operation``; AssertionError (with its log) if it ended
    before."""
    process = subprocess.Popen(**pyinfra_run(inventory, *extra, cwd=cwd), text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    log = []
    for line in process.stderr:
        log.append(line)
        if line.startswith(f"--> Starting operation: {operation}"):
            threading.Timer(delay, process.kill).start()
            break
    threading.Thread(target=lambda: log.extend(process.stderr), daemon=True).start()  # never a full pipe
    returncode = process.wait()
    assert returncode == -9, f"the deploy ended ({returncode}) before its cut at {operation!r}:\n{''.join(log)[-3000:]}"


def wait_until_free(target, timeout: float = 120) -> None:
    """Wait until a deploy could take ``target``'s lock: every command of the cut deploy has
    ended there (the lock is stale); proven by taking the lock and releasing it."""
    acquire, release = (str(lock_command(action)) for action in ("acquire", "release"))
    assert wait_for(lambda: target.testinfra.run(acquire).rc == 0, timeout, interval=2), (
        f"{target.name}: the cut deploy's commands still run after {timeout}s"
    )
    target.testinfra.run(release)


def checker_failures(target, installed_only: bool = False) -> dict[str, str]:
    """The checkers of ``target``'s groups that reject its live files, with their output
    (``installed_only``: of the services installed yet, during a first deploy)."""
    failures = {}
    for command, group in CHECKERS.items():
        if group is None or group in target.groups:
            program = command.split()[0]
            guard = f"command -v {program} >/dev/null || exit 0; " if installed_only else ""
            result = target.testinfra.run(guard + command)
            if result.rc != 0:
                failures[command] = result.stdout + result.stderr
    return failures

