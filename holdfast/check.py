"""``make check``: an inventory checked on this machine alone, without SSH, before a deploy.

Its group_data is validated for every host (the deploy's own messages: file, key, value,
expected form), the inventory-wide audit rules run (those that need no host facts), every
file a deploy writes is rendered, and the checkers that run here read what was rendered:
crossplane and gixy for nginx, ``promtool`` and ``amtool`` for the monitor host where they
are installed. What needs a host (its facts, ``nginx -t``, ``monit -t``) is the deploy's.
"""

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from holdfast import monitoring, status
from holdfast.audit import Estate, inventory_findings, unacknowledged
from holdfast.inventory import read_inventory
from holdfast.safe_config import ConfigFile

# The PHP-FPM pools are rendered for a host of this memory (a deploy reads the host's).
HOST_MEMORY = 2 * 1024**3

NGINX_ROOT = "/etc/nginx"
# Debian's files that nginx's configuration includes, as far as the offline checks need them.
DEBIAN_NGINX_FILES = {
    "/etc/nginx/mime.types": "types {\n    text/html html;\n    text/css css;\n}\n",
    "/etc/nginx/fastcgi_params": "fastcgi_param QUERY_STRING $query_string;\n",
}


def write_tree(root: Path, files: Mapping[str, str], directory: str) -> None:
    """``files`` (path -> content) under ``root``, and every mention of ``directory`` in them
    moved there too, so that a checker follows their includes inside ``root``."""
    for path, content in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content.replace(directory, f"{root}{directory}"))


def write_nginx_tree(root: Path, files: Mapping[str, str]) -> Path:
    """The nginx files of ``files`` (with Debian's includes) under ``root``; the main file."""
    write_tree(root, {**DEBIAN_NGINX_FILES, **files}, f"{NGINX_ROOT}/")
    return root / NGINX_ROOT.lstrip("/") / "nginx.conf"


def _nginx_problems(root: Path, files: Mapping[str, str]) -> Iterable[str]:
    import crossplane  # the test extra (requirements.txt); only this check needs it

    main = write_nginx_tree(root, files)
    for error in crossplane.parse(str(main))["errors"]:
        yield f"nginx (crossplane): {error['file'].removeprefix(str(root))}: {error['error'].replace(str(root), '')}"
    gixy = Path(sys.executable).parent / "gixy"
    result = subprocess.run([str(gixy), "--format", "text", str(main)], capture_output=True, text=True)
    if result.returncode != 0:
        yield f"nginx (gixy): {(result.stdout + result.stderr).strip().replace(str(root), '')}"


def _tool_problems(root: Path, tool: list[str], path: str) -> Iterable[str]:
    if shutil.which(tool[0]) is None or not (root / path.lstrip("/")).exists():
        return
    result = subprocess.run([*tool, f"{root}{path}"], capture_output=True, text=True)
    if result.returncode != 0:
        yield f"{path} ({tool[0]}): {(result.stdout + result.stderr).strip().replace(str(root), '')}"


def file_problems(files: list[ConfigFile]) -> list[str]:
    """What the checkers that run here find in one host's rendered files."""
    by_path = {file.path: file.content for file in files}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="holdfast-check-") as directory:
        root = Path(directory)
        nginx_files = {path: text for path, text in by_path.items() if path.startswith(f"{NGINX_ROOT}/")}
        if nginx_files:
            problems += _nginx_problems(root / "nginx", nginx_files)
        if monitoring.PROMETHEUS_CONFIG in by_path:
            tree = root / "prometheus"
            write_tree(tree, by_path, f"{monitoring.CONFIG_DIR}/")
            problems += _tool_problems(tree, ["promtool", "check", "config"], monitoring.PROMETHEUS_CONFIG)
            problems += _tool_problems(tree, ["amtool", "check-config"], monitoring.ALERTMANAGER_CONFIG)
    return problems


def check(inventory_path: str) -> tuple[list[str], list[str]]:
    """What was checked, and the problems found, for every host of the inventory. Invalid
    group_data raises the deploy's SettingsError."""
    inventory = read_inventory(inventory_path)
    estate = Estate.of(inventory)
    problems = [f"audit {finding}" for finding in unacknowledged(inventory_findings(estate), estate.settings.values())]
    done = []
    for host in inventory:
        host_settings = estate.settings[host.name]
        files, skipped = status.wanted_files(inventory, host, host.groups, host_settings)
        files += status.pool_files(host_settings, HOST_MEMORY)
        problems += [f"{host.name}: not rendered: {reason}" for reason in skipped]
        problems += [f"{host.name}: {problem}" for problem in file_problems(files)]
        done.append(f"{host.name}: {len(files)} files rendered")
    return done, problems


def main(inventory_path: str) -> int:
    done, problems = check(inventory_path)
    print("\n".join(done))
    if problems:
        print(f"{inventory_path}: {len(problems)} problem(s), fix them before a deploy:\n  " + "\n  ".join(problems),
              file=sys.stderr)
        return 1
    print(f"{inventory_path}: group_data valid, every file rendered and checked; the audit's inventory rules pass")
    return 0
