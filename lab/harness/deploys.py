"""Running a pyinfra deploy as a user would, and reading what it changed."""

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from holdfast.deploy_lock import LOCK_OPERATIONS
from holdfast.inventory import read_inventory
from lab.topology import FLEET, LAB_INVENTORY

PYINFRA = Path(sys.executable).parent / "pyinfra"
REPO = Path(__file__).resolve().parents[2]


def lab_inventory(path: str = LAB_INVENTORY):
    """An inventory of the lab's fleet (default: the lab's), with the fleet's group_data, read
    from there as pyinfra reads it."""
    with contextlib.chdir(FLEET):
        return read_inventory(path)


def pyinfra_run(inventory: str, *extra: str, deploy_file: str = "deploy.py", cwd: Path | None = None,
                env: dict | None = None) -> dict:
    """The arguments of ``subprocess.Popen`` for ``pyinfra -y EXTRA... INVENTORY DEPLOY_FILE``
    in the project ``cwd`` (default: the current directory), whose group_data/ and
    inventories/ it reads. A project of data only (the lab's fleet) runs the repository's
    deploy files, config.py and lab package."""
    project = Path(cwd or Path.cwd())
    code = project if (project / deploy_file).exists() else REPO
    return {
        "args": [str(PYINFRA), "-y", "--config", str(code / "config.py"), *extra, inventory, str(code / deploy_file)],
        "cwd": project,
        "env": {**(os.environ if env is None else env), "PYTHONPATH": str(code)},
    }


def fingerprint_command(*directories: str) -> str:
    """A shell command printing one checksum of every file under ``directories``."""
    return f"find {' '.join(directories)} -xdev -type f -print0 2>/dev/null | sort -z | xargs -0 sha1sum | sha1sum"


# Everything a deploy could change, fingerprinted.
FINGERPRINT = fingerprint_command("/etc", "/usr/local", "/srv", "/var/lib/holdfast")


class DeployResultError(RuntimeError):
    """pyinfra's output holds no outcome per operation to read (no run, a dry run, or not
    pyinfra's ``--json`` result): never to be read as "nothing changed"."""


@dataclass(frozen=True)
class OperationResult:
    """One operation of a run and its outcome on each of its hosts."""

    name: str
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    failed: tuple[str, ...]


def operation_results(result: str) -> list[OperationResult]:
    """The operations in pyinfra's ``--json`` result (its stdout), each with an outcome on
    every host it ran for; DeployResultError if the result is not that."""
    try:
        results = json.loads(result)["results"]
        operations = [
            OperationResult(op["name"], tuple(op["success"]), tuple(op["no_change"]), tuple(op["error"]))
            for op in results["operations"]
        ]
        hosts = [op["hosts"] for op in results["operations"]]
    except (ValueError, KeyError, TypeError) as error:
        raise DeployResultError(
            f"no pyinfra --json result of a run ({type(error).__name__}: {error}) in {result[:300]!r}"
        ) from None
    if not operations:
        raise DeployResultError("pyinfra's result lists no operation")
    for operation, count in zip(operations, hosts, strict=True):
        outcomes = len(operation.changed) + len(operation.unchanged) + len(operation.failed)
        if outcomes != count:
            raise DeployResultError(f"operation {operation.name!r}: an outcome for {outcomes} of its {count} hosts")
    return operations


@dataclass
class DeployRun:
    """One ``pyinfra --json`` run: ``result`` is its stdout (the JSON result), ``output``
    its log on stderr (operations, warnings, errors: what a user reads)."""

    returncode: int
    result: str
    output: str

    @property
    def operations(self) -> list[OperationResult]:
        """Each operation's outcome per host; DeployResultError, with the log's end, if the
        run printed none."""
        try:
            return operation_results(self.result)
        except DeployResultError as error:
            raise DeployResultError(f"{error}\npyinfra's log ends:\n{self.output[-2000:]}") from None

    @property
    def changed_operations(self) -> list[str]:
        """Operations that changed something on at least one host (the deploy lock, taken and
        released by every deploy, is no change of the host's)."""
        return [
            operation.name for operation in self.operations
            if operation.changed and operation.name not in LOCK_OPERATIONS
        ]


def start_deploy(
    inventory: str, *extra: str, deploy_file: str = "deploy.py", cwd: Path | None = None, env: dict | None = None
) -> subprocess.Popen:
    """``pyinfra -y --json EXTRA... INVENTORY DEPLOY_FILE`` started in the project ``cwd``
    (``pyinfra_run``; with ``env``, if given); ``finish`` reads its run. Its pid is the one
    the deploy lock names."""
    return subprocess.Popen(
        **pyinfra_run(inventory, "--json", *extra, deploy_file=deploy_file, cwd=cwd, env=env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )


def finish(process: subprocess.Popen) -> DeployRun:
    """The run of a deploy ``start_deploy`` started, once it has ended."""
    result, output = process.communicate()
    return DeployRun(process.returncode, result, output)


def run_deploy(
    inventory: str, *extra: str, deploy_file: str = "deploy.py", cwd: Path | None = None, env: dict | None = None
) -> DeployRun:
    """``pyinfra -y --json EXTRA... INVENTORY DEPLOY_FILE`` in ``cwd`` (with ``env``, if given)."""
    return finish(start_deploy(inventory, *extra, deploy_file=deploy_file, cwd=cwd, env=env))


def fingerprints(targets) -> dict[str, str]:
    """A fingerprint of every file a deploy could change, per host (``targets``: tests/host)."""
    return {name: target.testinfra.check_output(FINGERPRINT) for name, target in targets.items()}


def read_status(inventory: str) -> dict:
    """`python -m holdfast status INVENTORY --json`, as the sysadmin runs it."""
    result = subprocess.run([sys.executable, "-m", "holdfast", "status", inventory, "--json"],
                            capture_output=True, text=True, timeout=60, check=True)
    found = json.loads(result.stdout)
    print(f"status read {len(found['hosts'])} hosts in {found['seconds']}s")
    return found
