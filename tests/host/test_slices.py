"""Resource slices: systemd applies what group_data sets, a runaway stays in its slice, a
bad or oversized value stops the deploy, and a deploy restarts only what it moved.

The lab is cgroup v1: CPUQuota=, MemoryMax= and TasksMax= are enforced there and tested by
their effect; MemoryLow=, MemoryHigh= and IOWeight= are not, so for them the tests check
what systemd reports.
"""

import re
import shlex
import time

import pytest

from holdfast.slices import DROP_IN, drop_in, slice_unit, verify_command
from lab.harness.deploys import fingerprints, run_deploy
from lab.harness.faults import unsupervised
from lab.harness.probes import cpu_percent, oom_kills, wait_for
from lab.site import standin_site
from tests.conftest import append, copy_project

pytestmark = pytest.mark.hosts("web")

# systemctl show's name for a setting, where it differs.
SHOWN_AS = {"CPUQuota": "CPUQuotaPerSecUSec"}
_TIMESPAN_UNITS = {"us": 1, "ms": 1e3, "s": 1e6, "min": 60e6, "h": 3600e6}


def show(host, unit: str, prop: str) -> str:
    return host.check_output(f"systemctl show -P {prop} -- {unit}")


def _usec(timespan: str) -> float:
    """systemd's timespan ("500ms", "1.500000s", "1min 30s") in microseconds."""
    return sum(float(n) * _TIMESPAN_UNITS[u] for n, u in re.findall(r"([\d.]+)(us|ms|s|min|h)", timespan))


def _resolved(host, key: str, value) -> float:
    """A memory or task setting as systemd resolves it: a percentage is of what the host has."""
    if not str(value).endswith("%"):
        return float(value)
    if key.startswith("Memory"):
        total = int(host.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) * 1024
    else:
        total = int(host.check_output("cat /proc/sys/kernel/pid_max /proc/sys/kernel/threads-max | sort -n | head -1"))
    return total * float(value.removesuffix("%")) / 100


def reported_as_set(host, key: str, value, shown: str) -> bool:
    """Whether ``shown``, what systemctl show reports for ``key``, is the setting ``value``."""
    if key == "CPUQuota":
        return _usec(shown) == pytest.approx(value * 1e4)
    if value == "infinity" or key.endswith("Weight"):
        return shown == str(value)
    return shown.isdigit() and int(shown) == pytest.approx(_resolved(host, key, value), rel=0.01)


def in_slice(host, unit: str, slice_name: str) -> bool:
    """Whether ``unit``'s processes are in the cgroup of the slice (not only configured so)."""
    return show(host, unit, "ControlGroup").startswith(show(host, slice_unit(slice_name), "ControlGroup") + "/")


# --- what systemd reports (read-only: runs on production too) -------------------------


def test_slice_reports_its_settings(host, slice_name, slice):
    unit = slice_unit(slice_name)
    values = slice.model_dump(exclude={"description"}, exclude_none=True)
    shown = {key: show(host, unit, SHOWN_AS.get(key, key)) for key in values}
    assert {key: shown[key] for key, value in values.items() if not reported_as_set(host, key, value, shown[key])} == {}


def test_placed_unit_has_its_drop_in(host, placement):
    unit, slice_name = placement
    assert f"\nSlice={slice_unit(slice_name)}\n" in host.file(drop_in(unit)).content_string


def test_placed_unit_reports_its_slice(host, placement):
    unit, slice_name = placement
    if show(host, unit, "LoadState") != "loaded":
        pytest.skip(f"{unit} is not installed here: its drop-in waits for it")
    assert show(host, unit, "Slice") == slice_unit(slice_name)


def test_placed_unit_runs_in_its_slice(host, placement):
    unit, slice_name = placement
    if show(host, unit, "ActiveState") != "active":
        pytest.skip(f"{unit} is not running here")
    assert in_slice(host, unit, slice_name)


def test_no_drop_in_is_left_for_a_unit_not_placed(host, settings):
    found = host.check_output(f"ls /etc/systemd/system/*.d/{DROP_IN} 2>/dev/null || true").split()
    assert sorted(found) == sorted(drop_in(unit) for unit in settings.placements)


# --- a runaway in the site's slice (lab only) ------------------------------------------


@pytest.fixture(scope="module")
def app_slice(settings) -> str:
    """The key of the slice the stand-in site's service runs in."""
    site = standin_site(settings)
    name = site and settings.services[site.backend.service].slice
    if not name:
        pytest.skip("no FastCGI site whose service is placed in a slice")
    return name


def running_outside(host, settings, slice_name: str) -> dict[str, str]:
    """MainPID of every running placed unit outside the slice ``slice_name``."""
    return {
        unit: show(host, unit, "MainPID")
        for unit, name in settings.placements.items()
        if name != slice_name and show(host, unit, "ActiveState") == "active"
    }


@pytest.mark.disruptive
def test_loop_is_held_to_its_slice_cpu_quota(host, settings, app_slice):
    quota = settings.slices[app_slice].CPUQuota
    if quota is None:
        pytest.skip(f"slice {app_slice} has no CPUQuota")
    # More looping workers than the quota lets run, and than the host has CPUs: the
    # slice wants more than its quota even when other load takes some of the CPUs.
    loops = max(int(quota // 100), int(host.check_output("nproc"))) + 1
    try:
        with unsupervised(host, settings):  # Monit would restart the runaway mid-measurement
            for _ in range(loops):
                host.check_output("standin loop")
            measured = cpu_percent(host, slice_unit(app_slice), 12)
    finally:
        host.check_output("standin heal")
    assert measured == pytest.approx(quota, abs=5)


@pytest.fixture(scope="module")
def leak(host, settings, app_slice):
    """`standin leak` until the OOM killer acts in the site's slice: OOM kills in the slice
    and on the whole host, and the placed units running outside it, before and after."""
    if settings.slices[app_slice].MemoryMax in (None, "infinity"):
        pytest.skip(f"slice {app_slice} has no MemoryMax")
    unit = slice_unit(app_slice)

    def observe():
        return {"slice": oom_kills(host, unit), "host": oom_kills(host, "-.slice"),
                "outside": running_outside(host, settings, app_slice)}

    before = observe()
    try:
        with unsupervised(host, settings):  # Monit's memory rule would restart it before the OOM killer acts
            host.check_output("standin leak")
            wait_for(lambda: oom_kills(host, unit) != before["slice"], 90, interval=1)
            after = observe()
    finally:
        host.check_output("standin heal")
    return before, after


@pytest.mark.disruptive
def test_leak_is_oom_killed_in_its_slice(leak):
    before, after = leak
    assert after["slice"] > before["slice"]


@pytest.mark.disruptive
def test_leak_kills_nothing_outside_its_slice(leak):
    before, after = leak
    assert after["host"] - after["slice"] == before["host"] - before["slice"]


@pytest.mark.disruptive
def test_units_outside_the_slice_stay_up_through_the_leak(leak):
    before, after = leak
    assert after["outside"] == before["outside"]


# Forks for 40 s, and on a refusal tries again: a task that leaves the slice meanwhile (a
# PHP worker replaced) frees a slot the storm takes at once, so the slice stays full.
STORM = """
import os, time
end = time.monotonic() + 40
while time.monotonic() < end:
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    except OSError:
        time.sleep(0.01)
"""


@pytest.fixture(scope="module")
def fork_storm(host, settings, app_slice):
    """A process forking until refused, in the site's slice: the slice's TasksMax, its most
    tasks seen, and whether a command outside the slice still ran meanwhile."""
    tasks_max = settings.slices[app_slice].TasksMax
    if not isinstance(tasks_max, int):
        pytest.skip(f"slice {app_slice} has no TasksMax in tasks")
    unit = slice_unit(app_slice)
    host.check_output(f"systemd-run --quiet --unit=holdfast-test-storm --slice={unit} --collect python3 -c '{STORM}'")
    try:
        deadline, peak = time.monotonic() + 30, 0
        while peak < tasks_max and time.monotonic() < deadline:
            peak = max(peak, int(show(host, unit, "TasksCurrent")))
            time.sleep(0.5)
        outside = host.run("true").rc == 0
    finally:
        host.run("systemctl stop holdfast-test-storm")
    return tasks_max, peak, outside


@pytest.mark.disruptive
def test_fork_storm_stops_at_tasks_max(fork_storm):
    tasks_max, peak, _ = fork_storm
    assert peak == tasks_max


@pytest.mark.disruptive
def test_host_still_forks_during_the_storm(fork_storm):
    _, _, outside = fork_storm
    assert outside


# --- checks before anything goes live (lab only) ----------------------------------------


@pytest.mark.disruptive
def test_verify_rejects_a_value_systemd_only_warns_about(host, settings, app_slice):
    """systemd-analyze verify exits 0 on a bad value; the deploy's check must fail."""
    candidate = host.check_output("mktemp -d")
    checked = f"mount --bind {candidate} /etc/systemd/system && {verify_command(settings)}"
    try:
        broken = host.run(
            f"cp -a /etc/systemd/system/. {candidate}/ && echo CPUQuota=fast >> {candidate}/{slice_unit(app_slice)}"
            f" && unshare --mount bash -c {shlex.quote(checked)}"
        )
    finally:
        host.run(f"rm -rf {candidate}")
    assert broken.rc != 0 and "Invalid CPU quota" in broken.stdout


@pytest.fixture
def a_slice(targets) -> str:
    """A slice of group_data/web.py, to change."""
    names = [name for target in targets.values() for name in target.settings.slices]
    if not names:
        pytest.skip("no slices in group_data")
    return names[0]


@pytest.mark.disruptive
@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("CPUQuota", "'fast'", "expected a percentage"), ("MemoryMax", "-1", "expected a size"),
     ("CPUQuota", "'100000%'", "more than the host's")],  # a thousand CPUs
    ids=["CPUQuota-fast", "MemoryMax-negative", "CPUQuota-beyond-the-host"],
)
def test_bad_slice_value_stops_the_deploy_before_any_host_is_touched(
    pytestconfig, targets, project_copy, a_slice, key, value, expected
):
    before = fingerprints(targets)
    append(project_copy / "group_data/web.py", f"slices[{a_slice!r}][{key!r}] = {value}")
    run = run_deploy(pytestconfig.getoption("inventory"), cwd=project_copy)
    assert run.returncode != 0
    assert f"group_data/web.py: slices.{a_slice}.{key} = {value}: {expected}" in run.output, run.output[-2000:]
    assert fingerprints(targets) == before


@pytest.mark.disruptive
def test_slice_beyond_the_host_only_warns_where_group_data_says_so(pytestconfig, project_copy, a_slice):
    append(project_copy / "group_data/web.py", f"slices[{a_slice!r}]['CPUQuota'] = '100000%'\nslice_budget = 'warn'")
    run = run_deploy(pytestconfig.getoption("inventory"), "--dry", cwd=project_copy)
    assert run.returncode == 0, run.output[-2000:]
    assert f"slices.{a_slice}.CPUQuota = '100000%': more than the host's" in run.output


# --- a deploy restarts only what it moved (lab only) ------------------------------------


@pytest.fixture(scope="module")
def moved(pytestconfig, host, settings, app_slice, tmp_path_factory):
    """Deploy group_data where the site's service has no slice any more and the critical
    slice half its CPUWeight; give the MainPIDs of the placed units before and after, and
    that weight; then deploy the project's own group_data again."""
    service = next(name for name, service in settings.services.items() if service.slice == app_slice)
    weight = (settings.slices[settings.critical.slice].CPUWeight or 100) // 2
    project = copy_project(tmp_path_factory.mktemp("moved"))
    append(project / "group_data/web.py",
           f"services[{service!r}]['slice'] = None\nslices[{settings.critical.slice!r}]['CPUWeight'] = {weight}")
    pids = {unit: show(host, unit, "MainPID") for unit in settings.placements}
    try:
        run = run_deploy(pytestconfig.getoption("inventory"), cwd=project)
        assert run.returncode == 0, run.output[-3000:]
        yield {"unit": settings.services[service].unit, "before": pids, "weight": weight,
               "after": {unit: show(host, unit, "MainPID") for unit in settings.placements}}
    finally:
        restored = run_deploy(pytestconfig.getoption("inventory"))
        assert restored.returncode == 0, restored.output[-3000:]


@pytest.mark.disruptive
def test_unit_taken_out_of_its_slice_loses_its_drop_in(host, moved):
    assert not host.file(drop_in(moved["unit"])).exists


@pytest.mark.disruptive
def test_unit_taken_out_of_its_slice_is_restarted_out_of_it(host, moved, app_slice):
    assert (show(host, moved["unit"], "ActiveState"), in_slice(host, moved["unit"], app_slice)) == ("active", False)


@pytest.mark.disruptive
def test_units_whose_drop_in_stayed_are_not_restarted(moved):
    stayed = set(moved["before"]) - {moved["unit"]}
    assert {unit: moved["after"][unit] for unit in stayed} == {unit: moved["before"][unit] for unit in stayed}


@pytest.mark.disruptive
def test_a_slice_new_weight_applies_without_a_restart(host, settings, moved):
    cgroup = show(host, slice_unit(settings.critical.slice), "ControlGroup")
    shares = host.run(f"cat /sys/fs/cgroup/cpu{cgroup}/cpu.shares /sys/fs/cgroup{cgroup}/cpu.weight 2>/dev/null").stdout
    # cgroup v1 has cpu.shares (systemd writes weight * 1024 / 100), v2 cpu.weight.
    assert int(shares) in {moved["weight"] * 1024 // 100, moved["weight"]}
