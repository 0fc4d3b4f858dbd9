"""The validate-then-swap helper (holdfast-apply-config), run for real on this machine
against a throwaway "live" directory."""

import subprocess

import pytest

from holdfast.templates import render
from tests.conftest import executable


@pytest.fixture
def apply(tmp_path):
    """Stage files for config "demo" and run the helper; returns (result, live dir)."""
    state = tmp_path / "state"
    script = executable(tmp_path / "holdfast-apply-config",
                        render("base/usr/local/sbin/holdfast-apply-config.j2", state_dir=state))
    live = tmp_path / "live/etc/demo"
    live.mkdir(parents=True)
    (live / "app.conf").write_text("setting = old\n")
    (live / "unrelated.conf").write_text("kept\n")

    def run(staged: dict[str, str], validate: str, reload: str = "true", removed=()):
        for relative, content in staged.items():
            path = state / "stage/demo" / str(live / relative).lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        result = subprocess.run(
            [script, "demo", validate, reload, *(str(live / name) for name in removed)],
            capture_output=True, text=True,
        )
        return result

    run.live = live
    run.state = state
    run.rollback = lambda config="demo": subprocess.run([script, "--rollback", config], capture_output=True, text=True)
    return run


def test_accepted_candidate_goes_live_and_reloads(apply, tmp_path):
    reloaded = tmp_path / "reloaded"
    result = apply({"app.conf": "setting = new\n"}, f"grep -q new {apply.live}/app.conf", f"touch {reloaded}")
    assert result.returncode == 0, result.stderr
    assert (apply.live / "app.conf").read_text() == "setting = new\n"
    assert (apply.live / "unrelated.conf").read_text() == "kept\n"
    assert reloaded.exists()
    assert (apply.state / "last-good/demo" / str(apply.live / "app.conf").lstrip("/")).read_text() == "setting = old\n"
    assert not (apply.state / "stage/demo").exists()


def test_the_checker_sees_the_candidate_at_the_live_path(apply):
    # The candidate is only visible inside the helper's private mount namespace.
    result = apply({"app.conf": "setting = new\n"}, f"grep -q 'setting = new' {apply.live}/app.conf")
    assert result.returncode == 0, result.stderr


def test_rejected_candidate_leaves_everything_as_it_was(apply, tmp_path):
    reloaded = tmp_path / "reloaded"
    result = apply({"app.conf": "setting = broken\n"}, "echo 'line 1: broken setting' >&2; false", f"touch {reloaded}")
    assert result.returncode == 1
    assert "rejected" in result.stderr and "line 1: broken setting" in result.stderr
    assert (apply.live / "app.conf").read_text() == "setting = old\n"
    assert not reloaded.exists()
    assert not list(apply.state.glob("candidate.*")) and not (apply.state / "stage/demo").exists()


def test_rejected_candidate_in_a_new_directory_leaves_no_directory(apply):
    result = apply({"new.d/extra.conf": "x\n"}, "false")
    assert result.returncode == 1
    assert not (apply.live / "new.d").exists()


def test_failed_reload_puts_the_last_good_files_back(apply):
    result = apply({"app.conf": "setting = new\n", "added.conf": "new file\n"}, "true", "exit 3")
    assert result.returncode == 1 and "last good" in result.stderr
    assert (apply.live / "app.conf").read_text() == "setting = old\n"
    assert not (apply.live / "added.conf").exists()


def test_owned_files_no_longer_wanted_are_removed_after_validation(apply):
    result = apply({}, f"test ! -e {apply.live}/unrelated.conf", removed=["unrelated.conf"])
    assert result.returncode == 0, result.stderr
    assert not (apply.live / "unrelated.conf").exists()


def test_modes_and_owners_of_staged_files_are_kept(apply):
    staged = apply.state / "stage/demo" / str(apply.live / "secret.conf").lstrip("/")
    staged.parent.mkdir(parents=True)
    staged.write_text("password = x\n")
    staged.chmod(0o600)
    result = apply({}, "true")
    assert result.returncode == 0, result.stderr
    assert (apply.live / "secret.conf").stat().st_mode & 0o777 == 0o600


def test_rollback_puts_the_last_good_files_back_through_the_same_checker(apply, tmp_path):
    reloaded = tmp_path / "reloaded"
    checker = f"grep -q setting {apply.live}/app.conf"
    result = apply({"app.conf": "setting = new\n", "added.conf": "new file\n"}, checker, f"touch {reloaded}")
    assert result.returncode == 0, result.stderr
    reloaded.unlink()

    result = apply.rollback()
    assert result.returncode == 0, result.stderr
    assert (apply.live / "app.conf").read_text() == "setting = old\n"
    assert not (apply.live / "added.conf").exists()  # the last swap created it
    assert (apply.live / "unrelated.conf").read_text() == "kept\n"
    assert reloaded.exists()  # with the last swap's own reload

    result = apply.rollback()  # what the rollback replaced is the last good now
    assert result.returncode == 0, result.stderr
    assert (apply.live / "app.conf").read_text() == "setting = new\n"
    assert (apply.live / "added.conf").read_text() == "new file\n"


def test_rollback_is_refused_when_the_checker_rejects_the_last_good_files(apply):
    # The checker accepts the new file only: the old one is refused, nothing changes.
    result = apply({"app.conf": "setting = new\n"}, f"grep -q new {apply.live}/app.conf")
    assert result.returncode == 0, result.stderr
    result = apply.rollback()
    assert result.returncode == 1 and "rejected" in result.stderr
    assert (apply.live / "app.conf").read_text() == "setting = new\n"


def test_rollback_without_a_kept_configuration_says_what_is_kept(apply):
    assert apply({"app.conf": "setting = new\n"}, "true").returncode == 0
    result = apply.rollback("nginx")
    assert result.returncode == 2
    assert "no last good nginx configuration" in result.stderr and "kept: demo" in result.stderr
    assert (apply.live / "app.conf").read_text() == "setting = new\n"


def test_the_original_of_a_file_is_kept_once_the_first_time_it_is_replaced(apply):
    original = apply.state / "original" / str(apply.live / "app.conf").lstrip("/")
    assert apply({"app.conf": "setting = first\n", "added.conf": "new file\n"}, "true").returncode == 0
    assert apply({"app.conf": "setting = second\n", "added.conf": "changed\n"}, "true").returncode == 0
    assert original.read_text() == "setting = old\n"  # not the last good (first), kept from before Holdfast
    assert (apply.state / "original/created").read_text() == f"{apply.live}/added.conf\n"
    assert not (apply.state / "original" / str(apply.live / "added.conf").lstrip("/")).exists()  # Holdfast's own
    assert (apply.state / "last-good/demo" / str(apply.live / "app.conf").lstrip("/")).read_text() == "setting = first\n"
