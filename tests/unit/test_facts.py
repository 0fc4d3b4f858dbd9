"""Holdfast's facts whose command can run on this machine: run for real on a scratch directory."""

import subprocess

from holdfast.facts import FileState, FileStates


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
