"""The lab: throwaway Debian hosts on this machine, booting real systemd under
systemd-nspawn, reached by real SSH. ``python -m lab up|down|status``."""

import os
import subprocess
import sys
import time
from pathlib import Path

from holdfast import templates

TEMPLATES = Path(__file__).parent / "templates"
_START = time.monotonic()


def log(message: str) -> None:
    print(f"[lab {time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


def render(template: str, **context) -> str:
    """Render one of the lab's own templates (lab/templates), as Holdfast renders its own."""
    return templates.render(template, TEMPLATES, **context)


class LabError(RuntimeError):
    """A lab step failed; the message says which and why."""


def run(*args, quiet=False, capture=False, check=True, cwd=None, env=None):
    """Run a command; on failure raise LabError with its output."""
    command = [str(arg) for arg in args]
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if (quiet or capture) else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
    )
    if check and result.returncode != 0:
        output = (result.stdout or "").strip()[-3000:]
        raise LabError(f"`{' '.join(command)}` exited {result.returncode}\n{output}")
    return result.stdout if capture else result.returncode
