"""Shared by the unit and host tests: where the repository is, the tests' own data, and
copies of the project."""

import shutil
from pathlib import Path

import pytest

from holdfast import loading
from holdfast.inventory import read_inventory
from lab.topology import FLEET

REPO = Path(__file__).resolve().parent.parent
# FLEET, the tests' own fleet (group_data/ and inventories/), is the one the lab runs: what
# the tests expect never depends on the repository's group_data/ and inventories/prod.py,
# which are the user's to replace.
# What a deploy reads; a copy of these is a project a test may edit freely. The data
# (group_data/, inventories/) is the tests' own fleet's, the rest the repository's.
PROJECT_FILES = ("deploy.py", "group_data", "inventories", "templates", "holdfast", "lab")
DATA_FILES = ("group_data", "inventories")
# The environment the sample group_data reads its SMTP login from; made-up values for rendering.
FAKE_SMTP_ENV = {"HOLDFAST_SMTP_USER": "alerts", "HOLDFAST_SMTP_PASSWORD": "fake-pw"}
# The replication password the lab's group_data reads (16 or more characters); made up.
FAKE_DATABASE_LOGIN = "made-up-for-tests"
# The chat and phone providers' secrets the sample group_data reads; made-up values.
FAKE_CHANNEL_ENV = {"HOLDFAST_SLACK_WEBHOOK": "T00/B00/fake-hook", "HOLDFAST_PAGERDUTY_ROUTING_KEY": "fake-routing-key",
                    "HOLDFAST_LAB_CHAT_KEY": "T0/B0/lab", "HOLDFAST_LAB_PAGERDUTY_KEY": "lab-routing-key",
                    "HOLDFAST_LAB_REPLICATION_PASSWORD": FAKE_DATABASE_LOGIN}
FAKE_DEPLOY_ENV = FAKE_SMTP_ENV | FAKE_CHANNEL_ENV


def copy_project(destination: Path, names: tuple[str, ...] = PROJECT_FILES) -> Path:
    """A copy of the project (its files ``names``) in ``destination``, to edit freely."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = (FLEET if name in DATA_FILES else REPO) / name
        if source.is_dir():
            # *.meta: mutmut's records beside the modules it mutates (in mutants/), not the project's
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.meta"))
        else:
            shutil.copy(source, destination / name)
    return destination


@pytest.fixture
def project_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the project to edit (e.g. break group_data), made the current directory."""
    monkeypatch.chdir(copy_project(tmp_path))
    return tmp_path


def load_settings(inventory: str = "inventories/lab.py"):
    """Validated settings of every host of ``inventory``, read from the current directory."""
    return loading.load(read_inventory(inventory))


def fleet_settings(inventory: str = "inventories/lab.py"):
    """``load_settings`` of the tests' own fleet, for module-scoped fixtures (which
    cannot take ``monkeypatch``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(FLEET)
        return load_settings(inventory)


def settings_error(inventory: str = "inventories/lab.py") -> str:
    """The message of the SettingsError that loading ``inventory`` raises."""
    with pytest.raises(loading.SettingsError) as raised:
        load_settings(inventory)
    return str(raised.value)


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in ``path``."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def executable(path: Path, text: str) -> Path:
    """``text`` written to ``path`` as a program (mode 0755): a stand-in for a command the
    code under test runs, or a rendered script to run."""
    path.write_text(text)
    path.chmod(0o755)
    return path


def append(path: Path, text: str) -> None:
    """Add ``text`` as lines at the end of ``path`` (e.g. a group_data assignment that overrides a value)."""
    path.write_text(path.read_text() + f"\n{text}\n")
