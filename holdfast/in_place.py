"""A no-op deploy in one read per host: what is in place is skipped without a command.

pyinfra reads the state of a host fact by fact, one SSH command each: about ninety for a
web host whose deploy changes nothing. Here every operation says at planning what it
would compare (its files, packages, units, directories), through pyinfra's ``_if``; at
execution all of them are read at once (``facts.Batch``), in the command that confirms the
deploy's lock on the host (``ThenRead``), or else by the host's first such operation.
An operation whose part is in place is skipped; one whose part differs runs as it always
did, reading its own facts. From then on the host has changed, the one read is stale, and
every later operation on it runs as it always did: a deploy that changes something is as
careful as before; only one that changes nothing is fast.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from io import StringIO
from pathlib import PurePosixPath
from weakref import WeakKeyDictionary

from pyinfra import host, state
from pyinfra.api import FactBase, Host, StringCommand
from pyinfra.connectors.util import CommandOutput
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files, systemd

from holdfast.facts import Batch, FileState, FileStates, MatchingFiles, PathMode, PathModes, UnitStates, query_key
from holdfast.inventory import current_host


@dataclass(frozen=True)
class Mode:
    """What an operation asks of a path beyond its content; None: whatever it is."""

    kind: str
    mode: str | None = None
    user: str | None = None
    group: str | None = None

    def met_by(self, found: PathMode | None) -> bool:
        return found is not None and found.kind.startswith(self.kind) and all(
            wanted is None or wanted.lstrip("0") == have
            for wanted, have in ((self.mode, found.mode), (self.user, found.user), (self.group, found.group)))


@dataclass(frozen=True)
class Part:
    """What one operation compares."""

    files: Mapping[str, FileState] = field(default_factory=dict)  # content, mode, owner, by path
    owned: tuple[str, ...] = ()  # glob patterns matching no other file than ``files``
    modes: Mapping[str, Mode] = field(default_factory=dict)
    packages: tuple[str, ...] = ()  # Debian packages installed
    running: tuple[str, ...] = ()  # systemd units
    enabled: tuple[str, ...] = ()
    facts: tuple[tuple[type[FactBase], dict, object], ...] = ()  # other facts, each with the value wanted

    def met_by(self, found: dict) -> bool:
        return (all(found["files"].get(path) == each for path, each in self.files.items())
                and (not self.owned  # else: every file found that its patterns match is its own
                     or all(path in self.files for path in found["matching"]
                            if any(PurePosixPath(path).match(pattern) for pattern in self.owned)))
                and all(mode.met_by(found["modes"].get(path)) for path, mode in self.modes.items())
                and all(name in found["packages"] for name in self.packages)
                and all(found["running"].get(unit) for unit in self.running)
                and all(found["enabled"].get(unit) for unit in self.enabled)
                and all(query_key(fact, kwargs) in found["facts"] and found["facts"][query_key(fact, kwargs)] == value
                        for fact, kwargs, value in self.facts))


@dataclass
class _Host:
    """One host's parts: registered at planning, read together at execution."""

    parts: list[Part] = field(default_factory=list)
    found: dict | None = None  # what the one read found
    changed_before: int = 0  # operations that had run commands on the host when it was read

    def queries(self) -> list[tuple[type[FactBase], dict]]:
        """The facts that tell whether the parts are in place, read together."""
        units = sorted({unit for part in self.parts for unit in (*part.running, *part.enabled)})
        return [
            (FileStates, {"paths": sorted({path for part in self.parts for path in part.files})}),
            (MatchingFiles, {"patterns": sorted({pattern for part in self.parts for pattern in part.owned})}),
            (PathModes, {"paths": sorted({path for part in self.parts for path in part.modes})}),
            (DebPackages, {}), (UnitStates, {"units": units}),
            *self._others(),
        ]

    def _others(self) -> list[tuple[type[FactBase], dict]]:
        return list({query_key(fact, kwargs): (fact, kwargs) for part in self.parts
                     for fact, kwargs, _ in part.facts}.values())

    def take(self, values: list, changed_before: int) -> None:
        """What the read of ``queries`` found, after ``changed_before`` operations had changed the host."""
        files, matching, modes, packages, units, *others = values
        self.found = {"files": files, "matching": matching, "modes": modes, "packages": packages, **units,
                      "facts": {query_key(*query): value for query, value in zip(self._others(), others,
                                                                                   strict=True)}}
        self.changed_before = changed_before

    def read(self) -> None:
        self.take(host.get_fact(Batch, queries=self.queries()), _changed_operations())

    def needs(self, part: Part) -> bool:
        """Whether the operation of ``part`` has something to do (or must read to know)."""
        if self.found is None:
            self.read()
        elif _changed_operations() > self.changed_before:
            return True  # the host changed since it was read: the operation reads its own facts
        return not part.met_by(self.found)


# By pyinfra's host object: one deploy's hosts (a process may plan more than one deploy).
_HOSTS: WeakKeyDictionary[Host, _Host] = WeakKeyDictionary()


def _current() -> _Host:
    return _HOSTS.setdefault(current_host(), _Host())


def _changed_operations() -> int:
    """How many operations have run commands on the current host so far in this deploy."""
    return sum(data.operation_meta.executed for data in state.ops[current_host()].values())


# Where, in the output of a command followed by the read (``ThenRead``), the read begins.
READ_MARK = "@@holdfast-in-place"


class ThenRead(StringCommand):
    """``command``, then in the same SSH command (when it succeeds) the host's one read of
    what its operations compare: one round trip fewer per host. Made when its operation runs,
    so every operation of the host has said what it compares; the operation's output is
    ``command``'s alone."""

    def __init__(self, command: StringCommand):
        self.planned = _current()
        self.batch = Batch()
        super().__init__(command, "&& {", "echo", READ_MARK, ";", self.batch.command(self.planned.queries()), "; }")

    def execute(self, state, host, connector_arguments):
        status, output = super().execute(state, host, connector_arguments)
        own, read, reading = [], [], False
        for line in output:
            reading = reading or (line.buffer_name == "stdout" and line.line == READ_MARK)
            (read if reading and line.buffer_name == "stdout" else own).append(line)
        if status and read:
            # This operation counts among those run before the read once it has run.
            self.planned.take(self.batch.process([line.line for line in read[1:]]), _changed_operations() + 1)
        return status, CommandOutput(own)


def unless_in_place(
    files: Mapping[str, FileState] = {},
    owned: Iterable[str] = (),
    modes: Mapping[str, Mode] = {},
    packages: Iterable[str] = (),
    running: Iterable[str] = (),
    enabled: Iterable[str] = (),
    facts: Iterable[tuple[type[FactBase], dict, object]] = (),
) -> Callable[[], bool]:
    """
    The ``_if`` of an operation that has nothing to do when the current host already has:

    + files: these files, by path (content, mode, owner)
    + owned: no other files than ``files`` matching these glob patterns
    + modes: these paths of this kind, mode and owner
    + packages: these Debian packages installed
    + running, enabled: these systemd units running, enabled
    + facts: these facts (class, arguments) with these values
    """
    part = Part(dict(files), tuple(owned), dict(modes), tuple(packages), tuple(running), tuple(enabled),
                tuple(facts))
    planned = _current()
    planned.parts.append(part)
    return lambda: planned.needs(part)


def unless_packages_in_place() -> Callable[[], bool]:
    """The ``_if`` of what only an install needs (the package index): whether a package
    that the host's operations install is missing (they are all known when it is asked)."""
    planned = _current()
    return lambda: planned.needs(Part(packages=tuple(name for part in planned.parts for name in part.packages)))


# pyinfra's operations as Holdfast uses them, each skipped when what it compares is in place.

def packages(name: str, names: Iterable[str]) -> None:
    """Debian packages installed, without their recommendations."""
    names = list(names)
    apt.packages(name=name, packages=names, no_recommends=True, _if=unless_in_place(packages=names))


def service(name: str, unit: str, running: bool | None = True) -> None:
    """A systemd unit enabled, and running (unless ``running`` is None: left as it is)."""
    known_as = unit if "." in unit else f"{unit}.service"  # as systemd names it (and pyinfra)
    systemd.service(name=name, service=unit, running=running, enabled=True,
                    _if=unless_in_place(running=[known_as] if running else [], enabled=[known_as]))


def directory(name: str, path: str, mode: str, user: str | None = None, group: str | None = None) -> None:
    """A directory with this mode (and owner, if given)."""
    files.directory(name=name, path=path, mode=mode, user=user, group=group,
                    _if=unless_in_place(modes={path: Mode("directory", mode, user, group)}))


def file(name: str, path: str, mode: str, user: str | None = None, group: str | None = None) -> None:
    """A file that exists (empty if it is made), with this mode and owner."""
    files.file(name=name, path=path, mode=mode, user=user, group=group,
               _if=unless_in_place(modes={path: Mode("regular", mode, user, group)}))


def put(name: str, content: str, path: str, mode: str) -> None:
    """A file of root's with this content."""
    files.put(name=name, src=StringIO(content), dest=path, mode=mode,
              _if=unless_in_place(files={path: FileState.of(content, mode)}))
