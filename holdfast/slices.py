"""Resource slices: a runaway service cannot take the host with it.

Each slice of group_data becomes a systemd slice, ``holdfast-<name>.slice``, with the
resource limits group_data gives it; a drop-in per placed unit
(``/etc/systemd/system/<unit>.d/holdfast-slice.conf``) puts the unit in its slice: the
services group_data places, and the critical units (sshd, Monit, nginx, keepalived where
failover is on) in the critical slice, whether they are installed yet or not. The limits
are checked against the host's CPUs and memory at prepare time, and the files by
``systemd-analyze verify`` before they go live. A changed slice applies at the
daemon-reload; a unit whose drop-in came, changed or went is restarted, since a unit
changes slice only when it starts.
"""

import itertools
import shlex
from pathlib import PurePosixPath

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.facts.hardware import Cpus, Memory

from holdfast import loading, planning, settings
from holdfast.safe_config import UNIT_DIR, ConfigFile, validated_config
from holdfast.templates import render

PACKAGES = ()  # systemd is on every host
DROP_IN = "holdfast-slice.conf"
MEMORY_KEYS = ("MemoryLow", "MemoryHigh", "MemoryMax")  # in the order their values must rise
MiB = 1024**2


def slice_unit(name: str) -> str:
    """The systemd unit of the slice ``name``: a child of holdfast.slice."""
    return f"holdfast-{name}.slice"


def drop_in(unit: str) -> str:
    """The drop-in that places ``unit`` in its slice."""
    return f"{UNIT_DIR}/{unit}.d/{DROP_IN}"


def config_files(host_settings: settings.HostSettings) -> list[ConfigFile]:
    """A unit file per slice and a drop-in per placed unit."""
    supervised = {service.unit for service in host_settings.services.values()}
    return [
        *(
            ConfigFile(
                f"{UNIT_DIR}/{slice_unit(name)}",
                render("slices/etc/systemd/system/holdfast-NAME.slice.j2", name=name, slice=slice),
            )
            for name, slice in host_settings.slices.items()
        ),
        *(
            ConfigFile(drop_in(unit), render(
                "slices/etc/systemd/system/UNIT.d/holdfast-slice.conf.j2",
                unit=unit, slice_name=name, slice_unit=slice_unit(name), supervised=unit in supervised,
            ))
            for unit, name in host_settings.placements.items()
        ),
    ]


def _installed(units) -> str:
    """A shell command printing those of ``units`` that systemd has loaded (installed units)."""
    return (
        f"for unit in {' '.join(map(shlex.quote, units))}; do "
        '[ "$(systemctl show -P LoadState "$unit")" != loaded ] || echo "$unit"; done'
    )


def verify_command(host_settings: settings.HostSettings) -> str:
    """``systemd-analyze verify`` of the slices and of the placed units that are installed.

    verify warns about a bad line and still exits 0, so any complaint naming one of
    Holdfast's files (holdfast-*.slice, holdfast-slice.conf) rejects the candidate too. A unit
    a generator made (Debian's Monit, from its init script) is left out: verify cannot load
    it ("not found"), while systemd applies the drop-in to it all the same.
    """
    if not host_settings.slices:
        return "true"  # only removals: nothing left to check
    slices = " ".join(slice_unit(name) for name in host_settings.slices)
    not_generated = '[ -n "${unit_file##/run/systemd/generator*}" ]'
    return (
        f"units=$({_installed(host_settings.placements)} | while read -r unit; do "
        f'unit_file=$(systemctl show -P FragmentPath "$unit"); {not_generated} && echo "$unit"; done); '
        f"complaints=$(systemd-analyze verify --man=no {slices} $units 2>&1); status=$?; "
        'echo "$complaints"; [ $status = 0 ] && ! echo "$complaints" | grep -q holdfast-'
    )


def reload_command(changed: list[str], removed: list[str]) -> str:
    """daemon-reload (a slice's new limits apply at once), then restart each running unit
    whose drop-in came, changed or went."""
    paths = [PurePosixPath(path) for path in [*changed, *removed]]
    units = sorted({path.parent.name.removesuffix(".d") for path in paths if path.name == DROP_IN})
    if not units:
        return "systemctl daemon-reload"
    restart = '{ [ -z "$units" ] || systemctl try-restart $units; }'
    return f"systemctl daemon-reload && units=$({_installed(units)}) && {restart}"


def memory_bytes(value: int | str, host_memory: int) -> int | None:
    """A memory setting in bytes on a host with ``host_memory`` bytes (None: no limit)."""
    if value == "infinity":
        return None
    if isinstance(value, str):
        return int(host_memory * float(value.removesuffix("%")) / 100)
    return value


def budget_problems(slices: dict[str, settings.Slice], cpus: int, host_memory: int) -> list[settings.Problem]:
    """Slice limits the host cannot give, as (key path, value, message) triples."""
    problems = []
    host_mib = f"{host_memory // MiB} MiB"
    for name, slice in slices.items():
        if slice.CPUQuota and slice.CPUQuota > cpus * 100:
            problems.append((("slices", name, "CPUQuota"), f"{slice.CPUQuota:g}%",
                             f"more than the host's {cpus} CPU(s) can give (at most {cpus * 100}%)"))
        limits = {key: getattr(slice, key) for key in MEMORY_KEYS if getattr(slice, key) is not None}
        in_bytes = {key: memory_bytes(value, host_memory) for key, value in limits.items()}
        for key, size in in_bytes.items():
            if size is not None and size > host_memory:
                problems.append((("slices", name, key), limits[key], f"more than the host's memory ({host_mib})"))
        finite = [(key, size) for key, size in in_bytes.items() if size is not None]
        for (lower, low), (upper, high) in itertools.pairwise(finite):
            if low > high:
                problems.append(
                    (("slices", name, lower), limits[lower], f"above {upper} ({high // MiB} MiB): it can never apply")
                )
    reserved = {
        name: memory_bytes(slice.MemoryLow, host_memory) or host_memory  # infinity: all of it
        for name, slice in slices.items()
        if slice.MemoryLow
    }
    if sum(reserved.values()) > host_memory:
        in_mib = {name: f"{size // MiB} MiB" for name, size in reserved.items()}
        problems.append(
            (("slices",), in_mib, f"MemoryLow reservations add up to more than the host's memory ({host_mib})")
        )
    return problems


CPUS, MEMORY = (Cpus, {}), (Memory, {})


def reads(host_settings: settings.HostSettings) -> list[planning.Query]:
    """What slices read to plan (planning.read_together): the host's size."""
    return [CPUS, MEMORY] if host_settings.slices else []


def check_budget(host_settings: settings.HostSettings) -> None:
    """Stop the deploy (or warn, if group_data says so) when a slice cannot fit this host."""
    cpus, memory = planning.fact(CPUS), planning.fact(MEMORY)
    if not cpus or not memory:
        raise loading.SettingsError(f"{host.name}: cannot read the host's CPU count and memory (getconf, vmstat)")
    problems = budget_problems(host_settings.slices, cpus, memory * MiB)
    if problems and host_settings.slice_budget == "warn":
        for problem in problems:
            logger.warning(f"{host.name}: {loading.located(*problem)} (slice_budget = 'warn': deploying anyway)")
    elif problems:
        raise loading.refuse(*problems)


@deploy("Resource slices")
def deploy_slices() -> None:
    """Install the slices and put each placed unit in its slice; remove what group_data no
    longer has. Nothing changes unless the limits fit the host and systemd accepts the files."""
    host_settings = loading.current()
    if host_settings.slices:
        check_budget(host_settings)
    validated_config(
        name="Slices and the units placed in them",
        config="slices",
        files=config_files(host_settings),
        validate=verify_command(host_settings),
        reload=reload_command,
        owned=[f"{UNIT_DIR}/{slice_unit('*')}", f"{UNIT_DIR}/*.d/{DROP_IN}"],
    )
