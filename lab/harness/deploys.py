"""Running a pyinfra deploy as a user would, and reading what it changed."""

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PYINFRA = Path(sys.executable).parent / "pyinfra"


def fingerprint_command(*directories: str) -> str:
    """A shell command printing one checksum of every file under ``directories``."""
    return f"find {' '.join(directories)} -xdev -type f -print0 2>/dev/null | sort -z | xargs -0 sha1sum | sha1sum"


# Everything a deploy could change, fingerprinted.
FINGERPRINT = fingerprint_command("/etc", "/usr/local", "/srv", "/var/lib/holdfast")
_RESULT_ROW = re.compile(
    r"^\s{4}(?P<operation>\S.*?)\s{2,}(?P<hosts>\d+)\s+(?P<success>\d+|-)\s+(?P<error>\d+|-)\s+(?P<no_change>\d+|-)\s*$"
)


@dataclass
class DeployRun:
    returncode: int
    output: str

    @property
    def changed_operations(self) -> list[str]:
        """Operations that changed something on at least one host."""
        results = self.output.split("--> Results:", 1)[-1]
        return [
            match["operation"]
            for match in map(_RESULT_ROW.match, results.splitlines())
            if match and match["operation"] != "Grand total" and match["success"] != "-"
        ]


def run_deploy(
    inventory: str, *extra: str, deploy_file: str = "deploy.py", cwd: Path | None = None, env: dict | None = None
) -> DeployRun:
    """``pyinfra -y EXTRA... INVENTORY DEPLOY_FILE`` in ``cwd`` (with ``env``, if given);
    output is stdout and stderr together."""
    result = subprocess.run(
        [str(PYINFRA), "-y", *extra, inventory, deploy_file],
        cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env,
    )
    return DeployRun(result.returncode, result.stdout + result.stderr)


def fingerprints(targets) -> dict[str, str]:
    """A fingerprint of every file a deploy could change, per host (``targets``: tests/host)."""
    return {name: target.testinfra.check_output(FINGERPRINT) for name, target in targets.items()}
