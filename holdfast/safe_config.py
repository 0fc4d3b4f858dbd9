"""Validate-then-swap for configuration files, shared by every capability.

``validated_config`` compares the wanted files with the live ones (content, mode,
owner). When something differs it uploads the wanted files to a staging directory and
runs ``holdfast-apply-config`` (installed by the base capability), which validates the
candidate with the service's own checker in a private mount namespace, and only then
keeps a copy of the live files as the last good ones, swaps the new ones in and
reloads. A rejected candidate leaves the live files and the running service as they
were, and the deploy fails with the checker's own error text. Under ``--diff`` it shows
what each file's content would become, except files others may not read (secrets).
``rollback_config`` puts the last good files back, through the same helper.
"""

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import PurePosixPath

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.facts.files import FileContents
from pyinfra.operations.util.files import generate_color_diff

from holdfast.facts import FileState, FileStates, MatchingFiles
from holdfast.in_place import service, unless_in_place

STATE_DIR = "/var/lib/holdfast"
ORIGINALS = f"{STATE_DIR}/original"  # what was there before Holdfast (holdfast-apply-config)
UNIT_DIR = "/etc/systemd/system"
APPLY_COMMAND = "/usr/local/sbin/holdfast-apply-config"


@dataclass(frozen=True)
class ConfigFile:
    """One wanted file: where it goes, what it holds, who may read it."""

    path: str
    content: str
    mode: str = "644"
    user: str = "root"
    group: str = "root"

    @property
    def state(self) -> FileState:
        """What FileStates reads of it once it is in place."""
        return FileState.of(self.content, self.mode, self.user, self.group)


def _show_diff(wanted: ConfigFile, live: bool) -> None:
    """``--diff``: the change of ``wanted``'s content; not shown for a file others may not
    read (it may hold a secret, and the diff would print it)."""
    host.log(f"Will {'modify' if live else 'create'} {wanted.path}", logger.info)
    if not int(wanted.mode, 8) & 0o004:
        logger.info("  (content not shown: mode %s, it may hold secrets)", wanted.mode)
        return
    current = [line + "\n" for line in host.get_fact(FileContents, path=wanted.path) or []] if live else []
    for line in generate_color_diff(current, wanted.content.splitlines(keepends=True)):
        logger.info("  %s", line)


def validated_config(
    name: str,
    config: str,
    files: Sequence[ConfigFile],
    validate: str,
    reload: str | Callable[[list[str], list[str]], str] = "true",
    owned: Sequence[str] = (),
):
    """
    Install configuration files only if the service's own checker accepts them; when they
    are in place, nothing (the deploy's one read of the host says so: holdfast/in_place.py).

    + name: the operation's name
    + config: short name of this set of files (staging and last-good directories)
    + files: the wanted files
    + validate: command that checks the candidate, e.g. ``nginx -t``; it sees the
      candidate files at their live paths
    + reload: command run after the swap, e.g. ``systemctl reload nginx``; or a function
      of the changed and the removed paths that returns it (to restart only what changed)
    + owned: glob patterns of files Holdfast owns here; a match that is not in
      ``files`` is removed (in the same validated swap)

    **Example:**

    .. code:: python

        validated_config(
            name="Configure nginx",
            config="nginx",
            files=[ConfigFile("/etc/nginx/nginx.conf", render("nginx/etc/nginx/nginx.conf.j2"))],
            validate="nginx -t",
            reload="systemctl reload nginx",
        )
    """
    return swap_config(name=name, config=config, files=files, validate=validate, reload=reload, owned=owned,
                 _if=unless_in_place(files={wanted.path: wanted.state for wanted in files}, owned=owned))


@operation()
def swap_config(config: str, files: Sequence[ConfigFile], validate: str, reload, owned: Sequence[str] = ()):
    """
    ``validated_config``'s operation, which reads the host itself: the files that differ
    staged, validated by ``validate``, swapped in, ``reload`` run (see ``validated_config``).
    """
    wanted_paths = {wanted.path for wanted in files}
    found = host.get_fact(MatchingFiles, patterns=owned) if owned else []
    stale = [path for path in found if path not in wanted_paths]
    live = host.get_fact(FileStates, paths=[wanted.path for wanted in files]) if files else {}
    changed = [wanted for wanted in files if live.get(wanted.path) != wanted.state]
    if not changed and not stale:
        host.noop(f"{config} configuration is up to date")
        return

    if state.config.DIFF:
        for wanted in changed:
            _show_diff(wanted, wanted.path in live)
    stage = f"{STATE_DIR}/stage/{config}"
    yield StringCommand("rm", "-rf", stage, "&&", "mkdir", "-p", stage)
    for wanted in changed:
        staged = f"{stage}{wanted.path}"
        yield StringCommand("mkdir", "-p", str(PurePosixPath(staged).parent))
        yield FileUploadCommand(StringIO(wanted.content), staged, remote_temp_filename=host.get_temp_filename(staged))
        yield StringCommand("chown", f"{wanted.user}:{wanted.group}", staged, "&&", "chmod", wanted.mode, staged)
    if callable(reload):
        reload = reload([wanted.path for wanted in changed], stale)
    yield StringCommand(APPLY_COMMAND, config, shlex.quote(validate), shlex.quote(reload), *map(shlex.quote, stale))


@operation(is_idempotent=False)
def rollback_config(config: str):
    """
    Put back the last good files of ``config`` that the last swap replaced (and remove the
    files it created), validated and reloaded by that swap's own commands. What this replaces
    becomes the last good, so a second rollback undoes the first.

    + config: the short name given to ``validated_config`` (``nginx``, ``monit``, ...)
    """
    yield StringCommand(APPLY_COMMAND, "--rollback", shlex.quote(config))


def validated_timer(name: str, config: str, unit: str, files: Sequence[ConfigFile], running_name: str) -> None:
    """``files`` (``unit``.service and ``unit``.timer among them) installed once systemd
    accepts both units, then the timer enabled and running."""
    validated_config(
        name=name,
        config=config,
        files=files,
        validate=f"systemd-analyze verify {UNIT_DIR}/{unit}.service {UNIT_DIR}/{unit}.timer",
        reload="systemctl daemon-reload",
    )
    service(running_name, f"{unit}.timer")
