"""holdfast-apply-config --finish, run here for real: a swap cut off after its commit point
is completed (every file in, the removed ones gone, the reload run); one cut off before it
is dropped, leaving the live files as they were."""

import subprocess

from holdfast.templates import render


def journal(state, name: str, live, files: dict[str, str], removed: list[str], reload: str):
    """A swap journal as holdfast-apply-config writes it, for files under ``live``."""
    root = state / "journal" / name
    for path, content in files.items():
        staged = root / "files" / str(live / path).lstrip("/")
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(content)
    (root / "removed").write_text("".join(f"{live / path}\n" for path in removed))
    (root / "reload").write_text(reload)
    return root


def finish(state) -> subprocess.CompletedProcess:
    script = render("base/usr/local/sbin/holdfast-apply-config.j2", state_dir=str(state))
    return subprocess.run(["bash", "-c", script, "holdfast-apply-config", "--finish"],
                          capture_output=True, text=True, check=True)


def test_a_committed_swap_is_completed(tmp_path):
    state, live = tmp_path / "state", tmp_path / "live"
    (live / "sites").mkdir(parents=True)
    (live / "main.conf").write_text("old main")
    (live / "sites" / "gone.conf").write_text("old site")
    root = journal(state, "web", live, {"main.conf": "new main", "sites/new.conf": "new site"}, ["sites/gone.conf"],
                   f"echo reloaded > {tmp_path / 'reload'}")
    done = finish(state)
    assert "completed the swap of web" in done.stdout
    assert (live / "main.conf").read_text() == "new main"
    assert (live / "sites" / "new.conf").read_text() == "new site"
    assert not (live / "sites" / "gone.conf").exists()
    assert (tmp_path / "reload").read_text() == "reloaded\n"
    assert not root.exists()


def test_an_uncommitted_swap_is_dropped(tmp_path):
    state, live = tmp_path / "state", tmp_path / "live"
    live.mkdir()
    (live / "main.conf").write_text("old main")
    root = journal(state, "web", live, {"main.conf": "new main"}, [], "true")
    root.rename(root.with_name("web.uncommitted"))
    assert finish(state).stdout == ""
    assert (live / "main.conf").read_text() == "old main"
    assert not root.with_name("web.uncommitted").exists()


def apply(state, *arguments: str) -> subprocess.CompletedProcess:
    script = render("base/usr/local/sbin/holdfast-apply-config.j2", state_dir=str(state))
    return subprocess.run(["bash", "-c", script, "holdfast-apply-config", *arguments], capture_output=True, text=True)


def swapped_in(tmp_path, validate: str):
    """A live directory whose main.conf (the original) Holdfast replaced and whose sites/new.conf
    it created, by one accepted swap of the configuration ``web`` checked by ``validate``."""
    state, live = tmp_path / "state", tmp_path / "live"
    live.mkdir()
    (live / "main.conf").write_text("original main")
    for path, content in {"main.conf": "holdfast main", "sites/new.conf": "holdfast site"}.items():
        staged = state / "stage" / "web" / str(live / path).lstrip("/")
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(content)
    swap = apply(state, "web", validate, f"echo reloaded >> {tmp_path / 'reloads'}")
    assert swap.returncode == 0, swap.stderr
    assert (live / "main.conf").read_text() == "holdfast main"
    return state, live


def test_uninstall_puts_the_originals_back_and_removes_what_holdfast_created(tmp_path):
    state, live = swapped_in(tmp_path, "true")
    assert sorted((state / "original" / "web.files").read_text().split()) == [
        str(live / "main.conf"), str(live / "sites/new.conf")]
    done = apply(state, "--uninstall", "web")
    assert done.returncode == 0, done.stderr
    assert (live / "main.conf").read_text() == "original main"
    assert not (live / "sites" / "new.conf").exists()
    assert (tmp_path / "reloads").read_text() == "reloaded\nreloaded\n"


def test_uninstall_is_validated_like_any_swap(tmp_path):
    state, live = swapped_in(tmp_path, f"! grep -q original {tmp_path / 'live' / 'main.conf'}")
    refused = apply(state, "--uninstall", "web")
    assert refused.returncode == 1 and "rejected" in refused.stderr
    assert (live / "main.conf").read_text() == "holdfast main"
    assert (live / "sites" / "new.conf").read_text() == "holdfast site"


def test_uninstall_of_a_configuration_never_swapped_changes_nothing(tmp_path):
    done = apply(tmp_path / "state", "--uninstall", "web", "false")
    assert done.returncode == 0 and "nothing to put back" in done.stdout
