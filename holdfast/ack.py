"""Acknowledge an alert: a silence in the monitor hosts' Alertmanager, carrying who and why,
so that no later tier is paged for it while it lasts (the tiers' copies of an alert all
match it, see holdfast-alerts.yml).

    make ack ALERT=SiteDown FOR=2h COMMENT="nginx config rollback under way" [HOST=web1] [BY=alice]
    make ack ALERT="SiteDown|SiteBudgetBurnFast" ...     (several alerts at once)

Alertmanager listens on loopback on the monitor host, so amtool there (Alertmanager's own
client, from the same package) creates the silence through Alertmanager's v2 API, run
over SSH by ``pyinfra exec`` on the inventory's ``monitors`` group.
"""

import argparse
import getpass
import os
import shlex
import subprocess
import sys
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from holdfast.forms import AlertName, Duration, Hostname
from holdfast.inventory import MONITOR_GROUP
from holdfast.monitoring import ALERTMANAGER_ADDRESS


class AckError(ValueError):
    """A value of `make ack` is not what it must be; nothing was silenced."""


def _checked(form, value: str, name: str, expected: str):
    try:
        return TypeAdapter(form).validate_python(value)
    except ValidationError:
        raise AckError(f"{name}={value!r}: expected {expected}") from None


def silence_command(alert: str, duration: str, comment: str, author: str, host: str | None = None) -> str:
    """The amtool command, as the monitor host's shell runs it, that silences ``alert`` (one
    name, or several joined by "|"; on ``host``, or everywhere) for ``duration``; AckError
    for a value that is not valid."""
    names = [_checked(AlertName, name, "ALERT", "alert names such as SiteDown, or SiteDown|HostDown "
                      "(docs/RUNBOOK.md lists them)") for name in alert.split("|")]
    seconds = _checked(Duration, duration, "FOR", "a duration such as 30m or 2h")
    if seconds <= 0:
        raise AckError(f"FOR={duration!r}: expected a duration above 0 such as 30m or 2h")
    if not comment.strip():
        raise AckError("COMMENT is empty: expected why (e.g. 'rolling back, Alice on it')")
    if not author.strip():
        raise AckError("BY is empty: expected who acknowledges (it defaults to $USER)")
    matchers = [f"alertname={names[0]}" if len(names) == 1 else f"alertname=~{'|'.join(names)}"]
    if host:
        matchers.append(f"host={_checked(Hostname, host, 'HOST', 'a host name of the inventory such as web1')}")
    return shlex.join(["amtool", f"--alertmanager.url=http://{ALERTMANAGER_ADDRESS}", "silence", "add",
                       f"--duration={seconds}s", f"--author={author}", f"--comment={comment}", *matchers])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="make ack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", default="inventories/prod.py")
    parser.add_argument("--alert", default="")
    parser.add_argument("--for", dest="duration", default="")
    parser.add_argument("--comment", default="")
    parser.add_argument("--by", default="")
    parser.add_argument("--host", default="")
    args = parser.parse_args(argv)
    try:
        command = silence_command(args.alert, args.duration, args.comment,
                                  args.by or os.environ.get("USER") or getpass.getuser(), args.host or None)
    except AckError as error:
        print(f"make ack: {error}", file=sys.stderr)
        return 2
    pyinfra = Path(sys.executable).with_name("pyinfra")
    run = [str(pyinfra), "-y", "--limit", MONITOR_GROUP, args.inventory, "exec", "--", command]
    return subprocess.run(run).returncode


if __name__ == "__main__":
    sys.exit(main())
