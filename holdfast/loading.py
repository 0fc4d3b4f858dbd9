"""Loading group_data: every host's data validated by the settings models before any
operation is added, and every problem worded the one way a user reads it: the group_data
file, the key, the value and the expected form.

``load`` validates a whole inventory, ``current`` gives the settings of the host pyinfra
prepares, and ``refuse`` stops a deploy on a problem found while preparing a host.
"""

import difflib
import fnmatch
import runpy
import weakref
from functools import cache
from pathlib import Path
from typing import Any

import pyinfra
from pydantic import BaseModel, TypeAdapter, ValidationError
from pyinfra.api.connectors import get_all_connectors
from pyinfra.api.exceptions import PyinfraError

from holdfast.forms import KeyPattern
from holdfast.settings import HostSettings, Problem, dotted, failover_group_errors, nested_model


class SettingsError(PyinfraError):
    """group_data is invalid; nothing was changed on any host."""


def _is_pyinfra_key(key: str) -> bool:
    """Keys pyinfra itself reads: connector data (ssh_*, ...) and global arguments (_sudo, ...)."""
    return key.startswith("_") or key in _connector_keys()


@cache
def _connector_keys() -> frozenset[str]:
    """The data keys of pyinfra's connectors (found once: pyinfra looks its connectors up
    among the installed packages' entry points each time it is asked)."""
    return frozenset(key for connector in get_all_connectors().values()
                     for key in getattr(getattr(connector, "data_cls", None), "__annotations__", {}))


def _group_data_files() -> list[Path]:
    folder = Path.cwd() / "group_data"
    return sorted(folder.glob("*.py")) if folder.is_dir() else []


@cache
def _defined_in(path: Path) -> dict[str, Any]:
    """What the group_data file at ``path`` defines: read once per process, as pyinfra
    reads it (pyinfra_cli keeps each file's compiled code for the process)."""
    try:
        return runpy.run_path(str(path))
    except Exception:  # a file that fails here has already been read by pyinfra; label only
        return {}


_ABSENT = object()


def _at(value: Any, loc: tuple) -> Any:
    """What group_data holds at the key path ``loc`` of a validation error (_ABSENT if not
    there); the parts of ``loc`` past a plain value are pydantic's own (e.g. a union's branch)."""
    for part in loc:
        if isinstance(value, dict):
            value = value.get(part, _ABSENT)
        elif isinstance(value, list) and isinstance(part, int):
            value = value[part] if -len(value) <= part < len(value) else _ABSENT
        else:
            break
    return value


def _source(inventory, host, loc: tuple) -> str:
    """Which file (or inventory entry) the value at key path ``loc`` for ``host`` comes from.

    A group's file that builds its value from another's (the lab's escalation plan is
    production's with shorter waits) names the file the value at ``loc`` was copied from:
    the lowest-priority file holding that same value there.
    """
    key = str(loc[0])
    if key in inventory.get_override_data():
        return "--data on the command line"
    if key in inventory.get_host_data(host.name):
        return f"the inventory (host {host.name})"
    files = {path.stem: path for path in _group_data_files()}
    source, held = None, _ABSENT
    for group in [*reversed(host.groups), "all"]:
        data = inventory.get_data() if group == "all" else inventory.get_group_data(group)
        if key not in data:
            continue
        path = files.get(group)
        if not (path and key in _defined_in(path)):
            return source or f"the inventory (group {group})"
        value = _at(_defined_in(path)[key], loc[1:])
        if source is not None and (value is _ABSENT or value != held):
            break
        source, held = str(path.relative_to(Path.cwd())), value
    return source or "defaults"


_MESSAGES = {
    "missing": "required, but not set",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected True or False",
    "bool_type": "expected True or False",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a dict",
    "model_type": "expected a dict",
    "model_attributes_type": "expected a dict",
    "too_short": "expected at least one entry",
}



def _fields_at(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """Field names of the model found at ``loc`` (for "did you mean" hints)."""
    for part in loc:
        if model is not None and part in model.model_fields:
            model = nested_model(model.model_fields[part].annotation)
    return list(model.model_fields) if model else []


def _describe(error: dict) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _fields_at(HostSettings, error["loc"][:-1])
        hint = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        return "unknown key" + (f"; did you mean {hint[0]!r}?" if hint else f"; known keys: {', '.join(known)}")
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    message = error["msg"].removeprefix("Value error, ")
    if message.startswith("Input should be "):
        return "expected " + message.removeprefix("Input should be ")
    return message



_OTHER_PATTERNS = TypeAdapter(list[KeyPattern])


def _other_packages(data: dict) -> list[str]:
    """The patterns of the keys another package reads (``other_packages_keys``); none while
    they are invalid (validation says why)."""
    try:
        return _OTHER_PATTERNS.validate_python(data.get("other_packages_keys", []))
    except ValidationError:
        return []


def _unknown_keys(inventory, host, data: dict) -> list[str]:
    """Top-level keys that are neither Holdfast's, pyinfra's nor declared another package's;
    a key close to one of Holdfast's is a typo, with a hint."""
    others = _other_packages(data)
    errors = []
    for key in sorted(data):
        if key in HostSettings.model_fields or _is_pyinfra_key(key):
            continue
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in others):
            continue
        hint = difflib.get_close_matches(key, list(HostSettings.model_fields), n=1)
        errors.append(
            f"{_source(inventory, host, (key,))}: {key}: unknown key; "
            + (f"did you mean {hint[0]!r}?" if hint else
               "if another pyinfra package reads it, add a pattern matching it to other_packages_keys")
        )
    return errors


def _host_errors(inventory, host) -> list[str]:
    """Validation errors of one host's settings, each naming file, key, value and form."""
    data = host.data.dict()
    errors = _unknown_keys(inventory, host, data)
    try:
        settings = _validate(data)
    except ValidationError as error:
        for problem in error.errors():
            loc = problem["loc"]
            value = "" if problem["type"] == "missing" else f" = {problem['input']!r}"
            errors.append(f"{_source(inventory, host, loc)}: {dotted(loc)}{value}: {_describe(problem)}")
    else:
        errors += [_located(inventory, host, *problem) for problem in settings.reference_errors()]
    return errors


def _located(inventory, host, loc: tuple, value, message: str) -> str:
    return f"{_source(inventory, host, loc)}: {dotted(loc)} = {value!r}: {message}"


def _refused(heading: str, problems) -> SettingsError:
    return SettingsError(f"{heading}, nothing was changed on any host:\n  " + "\n  ".join(problems))


def located(loc: tuple, value, message: str) -> str:
    """A problem with a key of the current host's settings, worded as validation errors are:
    file, key, value, expected form (e.g. for a warning)."""
    return _located(pyinfra.inventory, pyinfra.host, loc, value, message)


def refuse(*problems: Problem) -> SettingsError:
    """The error that stops the deploy while pyinfra prepares the current host (before any
    host is touched), naming for each problem the group_data file, the key, the value and
    the expected form."""
    return _refused(f"invalid group_data for {pyinfra.host.name}", [located(*problem) for problem in problems])


def refuse_in(inventory, problems) -> SettingsError:
    """The error that stops the deploy for problems found across ``inventory``: ``problems``
    are (host, Problem) pairs, each worded with its host's file, key, value and form, once."""
    worded = (_located(inventory, host, *problem) for host, problem in problems)
    return _refused("invalid group_data", dict.fromkeys(worded))


def _validate(data: dict) -> HostSettings:
    return HostSettings.model_validate({key: value for key, value in data.items() if key in HostSettings.model_fields})


_validated: "weakref.WeakKeyDictionary[Any, dict[str, HostSettings]]" = weakref.WeakKeyDictionary()


def load(inventory) -> dict[str, HostSettings]:
    """Validated settings of every host in ``inventory``, by host name.

    Raises SettingsError listing every problem (each once) if any host's data is invalid.
    """
    if inventory in _validated:
        return _validated[inventory]
    errors: dict[str, None] = {}
    for host in inventory:
        errors.update(dict.fromkeys(_host_errors(inventory, host)))
    if errors:
        raise _refused("invalid group_data", errors)
    settings = {host.name: _validate(host.data.dict()) for host in inventory}
    from holdfast.inventory import WATCHED_GROUP  # holdfast.inventory imports this module

    web_hosts = [host.name for host in inventory.get_group(WATCHED_GROUP, [])]
    group_errors = [(host, problem) for host in inventory if host.name in web_hosts
                    for problem in failover_group_errors(settings[host.name], web_hosts)]
    if group_errors:
        raise refuse_in(inventory, group_errors)
    _validated[inventory] = settings
    return settings


def current() -> HostSettings:
    """Settings of the host pyinfra is preparing, after the whole inventory validated."""
    return load(pyinfra.host.inventory)[pyinfra.host.name]


def same_on_every_host(values: dict[str, Any], key: str) -> Any:
    """The one value of ``key`` that every host (by name) has; SettingsError if they differ.

    For settings read once for the whole inventory, e.g. by a reconcile on the control machine.
    """
    distinct: list = []
    for value in values.values():
        if value not in distinct:
            distinct.append(value)
    if len(distinct) > 1:
        first, other = distinct[:2]
        holders = [", ".join(host for host, value in values.items() if value == each) for each in (first, other)]
        raise _refused("invalid group_data", [
            f"{key} differs between hosts ({holders[0]}: {first!r}; {holders[1]}: {other!r}): "
            "it must be the same for all of them"
        ])
    return distinct[0]
