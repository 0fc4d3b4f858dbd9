"""Holdfast's facts whose command can run on this machine: run for real on a scratch directory."""

import subprocess

from pyinfra.facts.server import Command
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus

from holdfast.facts import (
    Batch,
    FileState,
    FileStates,
    Footprint,
    HoldfastFootprint,
    MatchingFiles,
    PathModes,
    TimerActive,
    UnchangedConffiles,
    UnitStates,
)


def test_file_states_reads_every_file_in_one_command_and_leaves_out_missing_ones(tmp_path):
    plain, spaced, secret = tmp_path / "plain.conf", tmp_path / "with space.conf", tmp_path / "secret.conf"
    plain.write_text("a = 1\n")
    spaced.write_text("")
    secret.write_text("password\n")
    plain.chmod(0o644)
    spaced.chmod(0o644)
    secret.chmod(0o600)
    fact = FileStates()
    paths = [str(plain), str(spaced), str(secret), str(tmp_path / "missing.conf")]
    output = subprocess.run(["sh", "-c", fact.command(paths)], capture_output=True, text=True, check=True).stdout
    states = fact.process(output.splitlines())
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    assert states == {
        str(plain): FileState("644", user, group, "31bd2185b0feac6e0c3da31b83b83819ef32a9a6"),
        str(spaced): FileState("644", user, group, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        str(secret): FileState("600", user, group, "c8fed00eb2e87f1cee8e90ebbe870c190ac3848c"),
    }


def test_unchanged_conffiles_are_those_still_as_dpkg_recorded_them(tmp_path):
    """Against a dpkg-query stand-in listing a file as shipped, an edited one, a missing one
    and an obsolete one (dpkg adds a third field): only the first is unchanged."""
    shipped, edited, obsolete = tmp_path / "shipped.conf", tmp_path / "edited.conf", tmp_path / "obsolete.conf"
    for each in (shipped, edited, obsolete):
        each.write_text("as shipped\n")
    md5 = subprocess.run(["md5sum", str(shipped)], capture_output=True, text=True).stdout.split()[0]
    edited.write_text("edited\n")
    (tmp_path / "bin").mkdir()
    stand_in = tmp_path / "bin" / "dpkg-query"
    stand_in.write_text(f"#!/bin/sh\n[ \"$3\" = nginx-common ] || exit 1\nprintf '%s\\n' ' {shipped} {md5}' "
                        f"' {edited} {md5}' ' {tmp_path}/missing.conf {md5}' ' {obsolete} {md5} obsolete'\n")
    stand_in.chmod(0o755)
    fact = UnchangedConffiles()
    output = subprocess.run(["sh", "-c", fact.command("nginx-common")], capture_output=True, text=True, check=True,
                            env={"PATH": f"{tmp_path}/bin:/usr/bin:/bin"}).stdout
    assert fact.process(output.splitlines()) == [str(shipped)]


def test_holdfast_footprint_reads_the_configs_the_units_and_the_packages_installed_since(tmp_path):
    installed = subprocess.run(["sh", "-c", "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' | "
                                "awk '$2 == \"installed\" { print $1 }'"], capture_output=True, text=True,
                               check=True).stdout.split()
    (tmp_path / "nginx.files").write_text("/etc/nginx/nginx.conf\n")
    (tmp_path / "heartbeat.files").write_text("/etc/systemd/system/holdfast-heartbeat.timer\n")
    (tmp_path / "created").write_text("/etc/systemd/system/holdfast-heartbeat.timer\n"
                                      "/etc/systemd/system/nginx.service.d/holdfast-slice.conf\n/etc/holdfast/x.nft\n")
    (tmp_path / "packages-before").write_text("".join(f"{name}\n" for name in installed if name != "bash"))
    fact = HoldfastFootprint()
    output = subprocess.run(["sh", "-c", fact.command(str(tmp_path))], capture_output=True, text=True, check=True)
    assert fact.process(output.stdout.splitlines()) == Footprint(
        configs=["heartbeat", "nginx"], units=["holdfast-heartbeat.timer"], links=[], new_packages=["bash"],
        packages_known=True)


def test_holdfast_footprint_of_a_host_without_a_record_is_empty(tmp_path):
    fact = HoldfastFootprint()
    output = subprocess.run(["sh", "-c", fact.command(str(tmp_path / "none"))], capture_output=True, text=True,
                            check=True)
    assert fact.process(output.stdout.splitlines()) == Footprint([], [], [], [], False)


def run_fact(fact, **kwargs):
    """A fact's command run here, its output processed as pyinfra does (its default when it
    fails or prints nothing)."""
    command = fact.command if isinstance(fact.command, str) else fact.command(**kwargs)
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    lines = done.stdout.splitlines()
    return fact.process(lines) if done.returncode == 0 and lines else fact.default()


def test_a_batch_reads_several_facts_in_one_command_each_as_it_would_alone(tmp_path):
    conf, directory = tmp_path / "a.conf", tmp_path / "d"
    conf.write_text("a = 1\n")
    directory.mkdir(mode=0o750)
    directory.chmod(0o750)
    queries = [(FileStates, {"paths": [str(conf), str(tmp_path / "missing")]}),
               (MatchingFiles, {"patterns": [f"{tmp_path}/*.none"]}),  # prints nothing: its default
               (Command, {"command": "echo partial; false"}),  # fails: its default
               (PathModes, {"paths": [str(directory), str(conf), str(tmp_path / "missing")]}),
               (TimerActive, {"timer": "holdfast-no-such.timer"})]
    values = run_fact(Batch(), queries=queries)
    assert values == [run_fact(fact(), **kwargs) for fact, kwargs in queries]
    states, matching, failed, modes, timer = values
    assert list(states) == [str(conf)] and matching == [] and failed is None and timer is False
    assert modes[str(directory)].kind == "directory" and modes[str(directory)].mode == "750"
    assert modes[str(conf)].kind == "regular file" and str(tmp_path / "missing") not in modes


def test_a_batch_of_nothing_answers_nothing():
    assert run_fact(Batch(), queries=[]) == []


def test_unit_states_answer_as_systemd_status_and_systemd_enabled_from_one_systemctl_show():
    output = ["Id=nginx.service", "SubState=running", "UnitFileState=enabled", "",
              "Id=certbot.timer", "SubState=waiting", "UnitFileState=disabled", "",
              "Id=monit.service", "SubState=dead", "UnitFileState=enabled"]
    fact = UnitStates()
    assert fact.command(["nginx.service", "certbot.timer"]) == (
        "systemctl show --all --property Id --property SubState --property UnitFileState nginx.service certbot.timer")
    assert fact.process(output) == {
        "running": {"nginx.service": True, "certbot.timer": True, "monit.service": False},
        "enabled": {"nginx.service": True, "certbot.timer": False, "monit.service": True},
    }
    assert fact.process(output) == {"running": SystemdStatus().process(output),
                                    "enabled": SystemdEnabled().process(output)}
