"""Holdfast as others install it: the wheel built from pyproject.toml, installed into a fresh
virtualenv, deploys (``--dry``: read-only) from a project outside this repository that holds
only ``inventories/``, ``group_data/`` and a three-line ``deploy.py``."""

import os
import subprocess
import sys
import types
from pathlib import Path

from holdfast.inventory import MONITOR_GROUP, WATCHED_GROUP, read_inventory
from tests.conftest import REPO, copy_project

# What the wheel is built from (a copy, so that the build leaves nothing in the repository).
PACKAGE_SOURCES = ("pyproject.toml", "README.md", "holdfast", "templates")
# The outside project's deploy: Holdfast's @deploy functions, imported as any deploy package's.
DEPLOY = """from holdfast import audit, hosted_monitors, monit
for deploy_holdfast in (audit.deploy_audit, monit.deploy_monit, hosted_monitors.deploy_hosted_monitors):
    deploy_holdfast()
"""


def run(*command, cwd: Path | None = None) -> str:
    """Run ``command``; its output (stdout and stderr), or a failure showing it."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"})
    assert result.returncode == 0, f"{' '.join(map(str, command))}:\n{(result.stdout + result.stderr)[-3000:]}"
    return result.stdout + result.stderr


def installed_holdfast(tmp_path: Path) -> Path:
    """A fresh virtualenv with the wheel and its dependencies (at requirements.txt's
    versions, from pip's cache when it has them); its bin directory."""
    source = copy_project(tmp_path / "source", PACKAGE_SOURCES)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", source)
    [wheel] = (tmp_path / "dist").glob("holdfast-*.whl")
    run(sys.executable, "-m", "venv", tmp_path / "venv")
    bin_dir = tmp_path / "venv/bin"
    run(bin_dir / "pip", "install", "-q", "--disable-pip-version-check", "-c", REPO / "requirements.txt", wheel)
    return bin_dir


def literal(values: dict) -> str:
    """Python assignments of ``values`` (plain data, as group_data and inventories hold),
    without the names Holdfast ignores (a leading "_": the lab's helpers) nor modules."""
    return "".join(f"{name} = {value!r}\n" for name, value in values.items()
                   if not name.startswith("_") and not isinstance(value, types.ModuleType))


def outside_project(directory: Path, inventory_path: str) -> Path:
    """A project with the inventory's hosts and group_data as literal values (the lab's files
    import the lab package, which an outside project does not have) and the deploy."""
    inventory = read_inventory(inventory_path)  # of the deployed project, the current directory
    groups = {
        group: [(each.name, inventory.get_host_data(each.name)) for each in inventory.get_group(group)]
        for group in (WATCHED_GROUP, MONITOR_GROUP)
    }
    (directory / "inventories").mkdir(parents=True)
    (directory / "inventories" / Path(inventory_path).name).write_text(literal(groups))
    (directory / "group_data").mkdir()
    for path in Path("group_data").glob("*.py"):
        data = inventory.get_data() if path.stem == "all" else inventory.get_group_data(path.stem)
        (directory / "group_data" / path.name).write_text(literal(data))
    (directory / "deploy.py").write_text(DEPLOY)
    return directory


def test_the_installed_wheel_deploys_an_outside_project(pytestconfig, tmp_path):
    bin_dir = installed_holdfast(tmp_path)
    project = outside_project(tmp_path / "project", pytestconfig.getoption("inventory"))
    templates = run(bin_dir / "python", "-c", "from holdfast import templates; print(templates.TEMPLATES_DIR)",
                    cwd=project)
    assert Path(templates.strip()).is_relative_to(tmp_path / "venv")  # the wheel's, not the repository's
    output = run(bin_dir / "pyinfra", "-y", "--dry", f"inventories/{Path(pytestconfig.getoption('inventory')).name}",
                 "deploy.py", cwd=project)
    assert all(f"[{name}] Ready: deploy.py" in output for name in pytestconfig.holdfast_targets), output[-3000:]
