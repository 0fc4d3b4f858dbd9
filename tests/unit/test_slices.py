"""Resource slices without hosts: group_data validation, the files rendered from the sample
data, the check and the restarts a deploy derives from them, and the budget against the
sizes of hosts."""

import subprocess

import pytest

from holdfast import settings, slices
from tests.conftest import append, executable, fleet_settings, settings_error

MiB = slices.MiB


@pytest.fixture(scope="module")
def lab_settings() -> dict[str, settings.HostSettings]:
    return fleet_settings()


@pytest.fixture(scope="module")
def web(lab_settings) -> settings.HostSettings:
    return lab_settings["web1"]


def error_of(project, group_data_line: str) -> str:
    append(project / "group_data/web.py", group_data_line)
    return settings_error()


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("slices['web']['CPUQuota'] = 'fast'", "slices.web.CPUQuota = 'fast': expected a percentage of one CPU"),
        ("slices['web']['CPUQuota'] = 50", "slices.web.CPUQuota = 50: expected a percentage of one CPU"),
        ("slices['web']['CPUQuota'] = '0%'", "slices.web.CPUQuota = '0%': expected a percentage of one CPU"),
        ("slices['web']['MemoryMax'] = -1", "slices.web.MemoryMax = -1: expected a size in bytes"),
        ("slices['web']['MemoryMax'] = '512MB'", "slices.web.MemoryMax = '512MB': expected a size in bytes"),
        ("slices['web']['MemoryHigh'] = '120%'", "slices.web.MemoryHigh = '120%': expected a size in bytes"),
        ("slices['web']['TasksMax'] = 0", "slices.web.TasksMax = 0: expected a number of tasks"),
        ("slices['critical']['CPUWeight'] = 0", "slices.critical.CPUWeight = 0: expected a whole number from 1"),
        ("slices['critical']['IOWeight'] = 'high'", "slices.critical.IOWeight = 'high': expected a whole number from 1"),
        ("slices['web']['CpuQuota'] = '50%'", "slices.web.CpuQuota = '50%': unknown key; did you mean 'CPUQuota'?"),
        ("slices['web-app'] = {}", "slices.web-app.[key] = 'web-app': expected a slice name"),
        ("services['php-fpm']['slice'] = 'www'",
         "services.php-fpm.slice = 'www': expected a key of slices (critical, web, database, batch)"),
        ("critical = {'slice': 'vip'}", "critical.slice = 'vip': expected a key of slices (critical, web, database, batch)"),
        ("critical = {'units': ['ssh']}", "critical.units[0] = 'ssh': expected a systemd service name"),
        ("services['edge'] = {'unit': 'nginx.service', 'slice': 'web', 'supervision': {'pidfile': '/run/nginx.pid'}}",
         "services.edge.unit = 'nginx.service': already placed by critical.units"),
        ("services['cron'] = {'unit': 'cron.timer', 'slice': 'batch', 'supervision': {'pidfile': '/run/crond.pid'}}",
         "services.cron.unit = 'cron.timer': expected a .service unit: only services are placed in a slice"),
        ("slice_budget = 'ignore'", "slice_budget = 'ignore': expected 'error' or 'warn'"),
    ],
)
def test_bad_value_is_refused_naming_file_and_key(project_copy, line, expected):
    assert f"group_data/web.py: {expected}" in error_of(project_copy, line)


@pytest.mark.parametrize(
    ("key", "given", "kept"),
    [
        ("CPUQuota", "150%", 150.0),
        ("CPUQuota", "12.5%", 12.5),
        ("MemoryMax", "512M", 512 * MiB),
        ("MemoryMax", 536870912, 512 * MiB),
        ("MemoryMax", "2G", 2048 * MiB),
        ("MemoryLow", "20%", "20%"),
        ("MemoryHigh", "infinity", "infinity"),
        ("TasksMax", 512, 512),
        ("TasksMax", "10%", "10%"),
        ("CPUWeight", 10000, 10000),
    ],
)
def test_systemd_syntax_is_accepted(key, given, kept):
    assert getattr(settings.Slice(**{key: given}), key) == kept


def test_properties_are_written_in_systemd_syntax():
    given = settings.Slice(description="x", CPUQuota="150%", MemoryMax="1G", TasksMax="infinity", IOWeight=10)
    expected = {"CPUQuota": "150%", "MemoryMax": str(1024 * MiB), "TasksMax": "infinity", "IOWeight": "10"}
    assert given.properties() == expected


def test_critical_units_go_to_the_critical_slice_services_where_placed(web):
    expected = dict.fromkeys([*web.critical.units, "keepalived.service"], web.critical.slice)  # failover is on
    expected.update({service.unit: service.slice for service in web.services.values() if service.slice})
    assert web.placements == expected


def test_keepalived_is_critical_only_where_failover_is_on(web):
    off = web.model_copy(update={"failover": settings.Failover()})
    assert "keepalived.service" not in off.placements


def test_a_host_without_slices_places_nothing(lab_settings):
    assert (lab_settings["mon1"].placements, slices.config_files(lab_settings["mon1"])) == ({}, [])


def test_another_module_reads_a_services_quota_as_a_number(web):
    unit, name = next((service.unit, service.slice) for service in web.services.values() if service.slice)
    assert web.slice_of(unit).CPUQuota == web.slices[name].CPUQuota and isinstance(web.slices[name].CPUQuota, float)
    assert web.slice_of("sshd.service") is None


# --- the files ----------------------------------------------------------------------------


def test_one_unit_file_per_slice_and_one_drop_in_per_placed_unit(web):
    paths = [file.path for file in slices.config_files(web)]
    assert paths == [f"/etc/systemd/system/holdfast-{name}.slice" for name in web.slices] + [
        f"/etc/systemd/system/{unit}.d/holdfast-slice.conf" for unit in web.placements
    ]


def test_slice_file_sets_each_property(web):
    files = {file.path: file.content for file in slices.config_files(web)}
    for name, slice in web.slices.items():
        lines = files[f"/etc/systemd/system/holdfast-{name}.slice"].splitlines()
        properties = lines[lines.index("CPUAccounting=yes") + 1:]
        assert properties == [f"{key}={value}" for key, value in slice.properties().items()]


def test_slice_file_is_described_for_systemctl_status(web):
    files = {file.path: file.content for file in slices.config_files(web)}
    assert "\nDescription=Holdfast slice web: the site's application\n" in files["/etc/systemd/system/holdfast-web.slice"]


def test_drop_in_names_its_unit_and_slice_for_the_reader(web):
    text = {file.path: file.content for file in slices.config_files(web)}[slices.drop_in("php8.2-fpm.service")]
    assert "# php8.2-fpm.service runs in the slice web " in text


def test_drop_in_puts_its_unit_in_its_slice(web):
    files = {file.path: file.content for file in slices.config_files(web)}
    for unit, name in web.placements.items():
        assert f"[Service]\nSlice=holdfast-{name}.slice\n" in files[slices.drop_in(unit)]


def test_only_monit_restarts_a_service(web):
    files = {file.path: file.content for file in slices.config_files(web)}
    services = {service.unit for service in web.services.values()}
    restarts = {unit: "\nRestart=no\n" in files[slices.drop_in(unit)] for unit in web.placements}
    assert restarts == {unit: unit in services for unit in web.placements} and any(restarts.values())


# --- the check and the restarts -----------------------------------------------------------


def test_verify_checks_every_slice_and_every_placed_unit(web):
    command = slices.verify_command(web)
    assert all(slices.slice_unit(name) in command for name in web.slices)
    assert all(unit in command for unit in web.placements)


def test_nothing_to_verify_on_a_host_without_slices(lab_settings):
    assert slices.verify_command(lab_settings["mon1"]) == "true"


def test_a_changed_slice_needs_only_a_daemon_reload():
    assert slices.reload_command(["/etc/systemd/system/holdfast-web.slice"], []) == "systemctl daemon-reload"


def test_units_whose_drop_in_came_changed_or_went_are_restarted():
    command = slices.reload_command(
        ["/etc/systemd/system/holdfast-web.slice", slices.drop_in("a.service"), slices.drop_in("b.service")],
        [slices.drop_in("c.service")],
    )
    assert command.startswith("systemctl daemon-reload && ")
    assert "for unit in a.service b.service c.service;" in command and "systemctl try-restart $units" in command


# The commands run as a shell would run them, against a stand-in for systemctl and
# systemd-analyze that answers only the calls the real ones are given on a host (host tests
# run the real ones: tests/host/test_slices.py).
FAKE_SYSTEMCTL = """#!/bin/sh
echo "systemctl $*" >> "$CALLS"
case "$1 $2 $3" in
  "show -P LoadState") case "$4" in missing.service) echo not-found ;; *) echo loaded ;; esac ;;
  "show -P FragmentPath") case "$4" in monit.service) echo /run/systemd/generator.late/monit.service ;;
                                       *) echo "/lib/systemd/system/$4" ;; esac ;;
  "daemon-reload  "|"try-restart "*) ;;
  *) exit 1 ;;
esac
"""
FAKE_ANALYZE = """#!/bin/sh
echo "systemd-analyze $*" >> "$CALLS"
printf '%s' "$COMPLAINT"
"""


def run_with_fakes(tmp_path, command: str, complaint: str = "") -> tuple[int, str, list[str]]:
    """Exit status, output and the calls made by ``command`` under bash with the stand-ins."""
    for name, script in (("systemctl", FAKE_SYSTEMCTL), ("systemd-analyze", FAKE_ANALYZE)):
        executable(tmp_path / name, script)
    calls = tmp_path / "calls"
    calls.write_text("")
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "CALLS": str(calls), "COMPLAINT": complaint}
    run = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True)
    return run.returncode, run.stdout, calls.read_text().splitlines()


def test_only_installed_units_are_listed(tmp_path):
    status, output, _ = run_with_fakes(tmp_path, slices._installed(["a.service", "missing.service", "b.service"]))
    assert (status, output) == (0, "a.service\nb.service\n")


def test_verify_gets_the_slices_and_the_installed_units_not_generated(tmp_path, web):
    status, _, calls = run_with_fakes(tmp_path, slices.verify_command(web))
    verified = [call for call in calls if call.startswith("systemd-analyze")]
    units = [unit for unit in web.placements if unit != "monit.service"]
    assert "monit.service" in web.placements and status == 0
    assert verified == [f"systemd-analyze verify --man=no {' '.join(map(slices.slice_unit, web.slices))} "
                        f"{' '.join(units)}"]


@pytest.mark.parametrize(
    ("complaint", "accepted"),
    [("", True), ("/etc/systemd/system/holdfast-web.slice:9: Unknown key name 'CPUQuot'", False),
     ("/lib/systemd/system/ssh.service:12: Unknown key name 'Foo'", True)],
    ids=["quiet", "about-holdfasts-file", "about-another-file"],
)
def test_verify_rejects_a_complaint_about_holdfasts_files_even_with_status_0(tmp_path, web, complaint, accepted):
    status, output, _ = run_with_fakes(tmp_path, slices.verify_command(web), complaint)
    assert (status == 0) == accepted and complaint in output


def test_reload_restarts_only_the_installed_units_whose_drop_in_changed(tmp_path):
    command = slices.reload_command([slices.drop_in("a.service")], [slices.drop_in("missing.service")])
    status, _, calls = run_with_fakes(tmp_path, command)
    assert status == 0 and [call for call in calls if "show" not in call] == [
        "systemctl daemon-reload", "systemctl try-restart a.service"]


# --- the budget -----------------------------------------------------------------------------


def problems(cpus=2, memory_mib=2048, **slice_values):
    found = slices.budget_problems({"web": settings.Slice(**slice_values)}, cpus, memory_mib * MiB)
    return [(".".join(loc), message) for loc, _, message in found]


def test_the_sample_slices_fit_a_small_host(web):
    assert slices.budget_problems(web.slices, 1, 2048 * MiB) == []


def test_a_quota_beyond_the_cpus():
    assert problems(CPUQuota="250%") == [
        ("slices.web.CPUQuota", "more than the host's 2 CPU(s) can give (at most 200%)")
    ]


def test_limits_at_the_hosts_size_fit_and_one_beyond_does_not():
    assert problems(CPUQuota="200%", MemoryHigh="1G", MemoryMax="1G") == []
    assert [where for where, _ in problems(CPUQuota="201%")] == ["slices.web.CPUQuota"]
    assert slices.budget_problems(
        {"a": settings.Slice(MemoryLow="1G"), "b": settings.Slice(MemoryLow="1G")}, 2, 2048 * MiB
    ) == []


def test_a_memory_limit_beyond_the_host():
    assert problems(MemoryMax="4G") == [("slices.web.MemoryMax", "more than the host's memory (2048 MiB)")]


def test_percentages_and_infinity_always_fit():
    assert problems(MemoryLow="10%", MemoryMax="100%", MemoryHigh="infinity", TasksMax="50%") == []


def test_a_limit_above_the_next_one_can_never_apply():
    assert problems(MemoryHigh="1500M", MemoryMax="50%") == [
        ("slices.web.MemoryHigh", "above MemoryMax (1024 MiB): it can never apply")
    ]


def test_reservations_beyond_the_host():
    found = slices.budget_problems(
        {"a": settings.Slice(MemoryLow="1G"), "b": settings.Slice(MemoryLow="60%")}, 2, 2048 * MiB
    )
    assert found == [(("slices",), {"a": "1024 MiB", "b": "1228 MiB"},
                      "MemoryLow reservations add up to more than the host's memory (2048 MiB)")]
