"""Host tests: pytest-testinfra against the hosts of any pyinfra inventory.

    pytest tests/host --inventory inventories/lab.py

The lab's inventory is read with the lab's fleet (lab/fleet: its group_data and
inventories), any other inventory with the repository's group_data (``--project`` to choose).
The tests run in that project (the current directory): a deploy started there, without
another ``cwd``, puts the hosts back as they were.

Hosts and how to reach them come from the inventory; what to expect comes from the same
validated settings the deploy used, never from values written here. Tests marked
``disruptive`` break things on purpose; they run only on hosts whose settings say
``disposable = True`` (the lab), so the suite verifies production read-only.

A disruptive test runs on one host of each group (``--disrupt-every-host``: on all).

A test takes ``host`` (a testinfra host, one test per inventory host, limited to groups
with ``@pytest.mark.hosts("web")``) and ``settings`` (that host's settings). A test that
also takes ``site``, ``service``, ``slice`` or ``placement`` runs once per host and site
(service, slice, placed unit) of that host, with ``site_name`` (``service_name``, ...) its key.
"""

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest
import testinfra

from holdfast import loading
from holdfast import settings as holdfast_settings
from holdfast.inventory import address_of, read_inventory
from holdfast.loading import same_on_every_host
from lab.doubles import listening_at
from lab.doubles.healthchecks import HealthchecksDouble
from lab.doubles.uptimerobot import UptimeRobotDouble
from lab.topology import FLEET, LAB_INVENTORY
from tests.conftest import REPO, copy_project, edit


def pytest_addoption(parser):
    parser.addoption("--inventory", default=LAB_INVENTORY, help="pyinfra inventory whose hosts to verify")
    parser.addoption(
        "--project", type=Path,
        help="the directory whose group_data/ and inventories/ the hosts were deployed from (default: the lab's "
        "fleet for the lab's inventory, else the repository)",
    )
    parser.addoption(
        "--disrupt-every-host", action="store_true",
        help="run disruptive tests on every host, not on one host of each group (the hosts of a group share "
        "their configuration)",
    )
    parser.addoption(
        "--cut-every-host", action="store_true",
        help="test_cut_off: cut deploys of every host, not of one web host (make cut-off)",
    )
    parser.addoption(
        "--first-deploy", action="store_true",
        help="test_cut_off: the lab was just brought up, no deploy has reached it (make cut-off-first)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "hosts(*groups): run only on the inventory's hosts in these groups")
    inventory_path = config.getoption("inventory")
    project = config.getoption("project") or (FLEET if inventory_path == LAB_INVENTORY else REPO)
    os.chdir(project)  # group_data is read from the current directory, as pyinfra does
    config.holdfast_project = project  # what a test that edits a copy (project_copy) restores from
    # The fleet's group_data and inventory import the lab package, from any directory.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    inventory = read_inventory(inventory_path)
    loaded = loading.load(inventory)
    config.holdfast_targets = {host.name: Target(host, loaded[host.name]) for host in inventory}


@dataclass
class Target:
    """One inventory host: its pyinfra data and groups, its settings, a testinfra host."""

    pyinfra_host: object
    settings: holdfast_settings.HostSettings

    @property
    def name(self) -> str:
        return self.pyinfra_host.name

    @property
    def groups(self) -> list[str]:
        return self.pyinfra_host.groups

    @property
    def address(self) -> str:
        """Where this machine (and the lab's clients) reach it."""
        return address_of(self.pyinfra_host)

    @cached_property
    def testinfra(self):
        data = self.pyinfra_host.data
        ssh_config = Path(os.environ.get("TMPDIR", "/tmp")) / f"holdfast-tests-{os.getpid()}-{self.name}.ssh_config"
        options = {
            "HostName": self.address,
            "User": data.get("ssh_user"),
            "Port": data.get("ssh_port"),
            "IdentityFile": data.get("ssh_key"),
            "StrictHostKeyChecking": data.get("ssh_strict_host_key_checking"),
            "UserKnownHostsFile": data.get("ssh_known_hosts_file"),
        }
        ssh_config.write_text(f"Host {self.name}\n" + "".join(
            f"  {key} {value}\n" for key, value in options.items() if value is not None
        ))
        return testinfra.get_host(f"paramiko://{self.name}", ssh_config=str(ssh_config), sudo=bool(data.get("_sudo")))


def targets_in(config, groups=()) -> list[Target]:
    every = config.holdfast_targets.values()
    return [target for target in every if not groups or set(groups) & set(target.groups)]


def one_per_group(targets: list[Target]) -> list[Target]:
    """The first of ``targets`` in each group (by a host's first group: web, monitors)."""
    first: dict[str, Target] = {}
    for target in targets:
        first.setdefault(target.groups[0], target)
    return list(first.values())


# Fixtures that expand a test over one settings mapping of each host: fixture -> key.
PER_ITEM = {"site": "sites", "service": "services", "slice": "slices", "placement": "placements"}


def pytest_generate_tests(metafunc):
    if "target" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("hosts")
    chosen = targets_in(metafunc.config, marker.args if marker else ())
    if metafunc.definition.get_closest_marker("disruptive") and not metafunc.config.getoption("disrupt_every_host"):
        chosen = one_per_group(chosen)
    item = next((fixture for fixture in PER_ITEM if fixture in metafunc.fixturenames), None)
    if item is None:
        metafunc.parametrize("target", chosen, ids=[target.name for target in chosen], scope="module")
        return
    pairs = [(target, name) for target in chosen for name in getattr(target.settings, PER_ITEM[item])]
    metafunc.parametrize(
        ("target", f"{item}_name"), pairs, ids=[f"{target.name}-{name}" for target, name in pairs], scope="module"
    )


@pytest.fixture(scope="module")
def host(target):
    """The testinfra host of the target under test."""
    return target.testinfra


@pytest.fixture(scope="module")
def settings(target) -> holdfast_settings.HostSettings:
    """Settings of the target under test, validated as the deploy validated them."""
    return target.settings


@pytest.fixture(scope="module")
def site(settings, site_name):
    """One site of the host under test."""
    return settings.sites[site_name]


@pytest.fixture(scope="module")
def service(settings, service_name):
    """One service of the host under test."""
    return settings.services[service_name]


@pytest.fixture(scope="module")
def slice(settings, slice_name):
    """One slice of the host under test."""
    return settings.slices[slice_name]


@pytest.fixture(scope="module")
def placement(settings, placement_name) -> tuple[str, str]:
    """One unit placed in a slice on the host under test, and the key of its slice."""
    return placement_name, settings.placements[placement_name]


@pytest.fixture(scope="session")
def targets(pytestconfig) -> dict[str, Target]:
    """Every host of the inventory, by name (for tests that involve several hosts)."""
    return pytestconfig.holdfast_targets


@pytest.fixture(scope="module")
def relay(targets, settings):
    """The mail relay (the lab's sink), when it is an inventory host."""
    if settings.mail.relay not in targets:
        pytest.skip(f"the mail relay {settings.mail.relay} is not an inventory host")
    return targets[settings.mail.relay].testinfra


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Skip a disruptive test that involves a host not ``disposable``, before any of its
    fixtures runs: module-scoped ones (a deploy, a flood) would otherwise come first. A test
    involves its target, or every host if it (or a fixture it uses) takes ``targets``."""
    if not item.get_closest_marker("disruptive"):
        return
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("target") if callspec else None
    involved = [target] if target and "targets" not in item.fixturenames else item.config.holdfast_targets.values()
    precious = [each.name for each in involved if not each.settings.disposable]
    if precious:
        pytest.skip(f"read-only run: {', '.join(precious)} not disposable")


# (file, old, new): group_data changing nginx's limits, PHP-FPM's pool, Monit's rules and a
# slice of the web hosts, and Prometheus's and Alertmanager's timings: a deploy of it
# changes each of those capabilities.
CHANGE_EVERY_CAPABILITY = [
    ("group_data/lab.py", '"evaluation_interval": "5s"', '"evaluation_interval": "6s"'),
    ("group_data/lab.py", '"repeat_interval": "1h"', '"repeat_interval": "2h"'),
    ("group_data/web.py", '"restart_window": 5', '"restart_window": 6'),
    ("group_data/web.py", '"request_slowlog_timeout": "5s"', '"request_slowlog_timeout": "4s"'),
    ("group_data/web.py", '"strict_paths": ["/wp-login.php", "/xmlrpc.php", "/wp-admin"]',
     '"strict_paths": ["/wp-login.php", "/xmlrpc.php", "/wp-admin", "/cart"]'),
    ("group_data/web.py", '"TasksMax": 256', '"TasksMax": 300'),
]


@pytest.fixture
def changed_project(tmp_path) -> Path:
    """A copy of the project whose group_data changes every capability of the web hosts."""
    project = copy_project(tmp_path / "changed")
    for file, old, new in CHANGE_EVERY_CAPABILITY:
        edit(project / file, old, new)
    return project


# --- the hosted monitors' doubles (lab/doubles), for the deploys that reconcile them ---

KEYS = {"uptimerobot": "ur-key", "healthchecks": "hc-key"}


@pytest.fixture(scope="module")
def hosted(targets):
    return same_on_every_host({name: t.settings.hosted_monitors for name, t in targets.items()}, "hosted_monitors")


@pytest.fixture
def doubles(hosted, targets):
    """Fresh doubles of both providers, with the escalation plan's contacts in them."""
    escalation = next(iter(targets.values())).settings.escalation
    with UptimeRobotDouble(KEYS["uptimerobot"], **listening_at(hosted.uptimerobot.api_url)) as robot, \
            HealthchecksDouble(KEYS["healthchecks"], **listening_at(hosted.healthchecks.api_url)) as checks:
        for contact in escalation.contacts.values():
            robot.add_contact("Email", contact.email)
            checks.add_channel(contact.email)
        yield {"uptimerobot": robot, "healthchecks": checks}


@pytest.fixture
def keys(monkeypatch, hosted):
    """The doubles' API keys in the deploy's environment."""
    for provider, key in KEYS.items():
        monkeypatch.setenv(getattr(hosted, provider).api_key_env, key)
    ping_key_env = hosted.healthchecks.ping_key_env
    monkeypatch.setenv(ping_key_env, os.environ.get(ping_key_env, "lab-ping-key"))


def names(doubles) -> dict[str, list[str]]:
    return {
        "uptimerobot": sorted(monitor["friendlyName"] for monitor in doubles["uptimerobot"].monitors.values()),
        "healthchecks": sorted(check["name"] for check in doubles["healthchecks"].checks.values()),
    }
