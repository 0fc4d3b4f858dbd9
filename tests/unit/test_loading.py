"""holdfast/loading.py's own wording and look-ups, apart from the settings they validate:
the heading of a refusal, a value that must be the same on every host, the settings of the
host pyinfra prepares. Written against the survivors of `make mutation`."""

import pytest
from pyinfra.api import State
from pyinfra.context import ctx_host, ctx_inventory, ctx_state
from pyinfra_cli.inventory import make_inventory

from holdfast import loading
from holdfast.inventory import read_inventory
from tests.conftest import FLEET, load_settings


def test_one_value_on_every_host_is_that_value():
    assert loading.same_on_every_host({"a": 5, "b": 5}, "k") == 5


def test_values_that_differ_name_the_hosts_holding_the_first_two():
    with pytest.raises(loading.SettingsError) as raised:
        loading.same_on_every_host({"a": 1, "b": 2, "c": 3, "d": 1}, "k")
    assert str(raised.value) == (
        "invalid group_data, nothing was changed on any host:\n"
        "  k differs between hosts (a, d: 1; b: 2): it must be the same for all of them"
    )


def test_the_current_host_gets_its_own_settings(monkeypatch):
    monkeypatch.chdir(FLEET)
    inventory = read_inventory("inventories/prod.py")
    web = inventory.get_host("web2.example.com")
    with ctx_inventory.use(inventory), ctx_host.use(web):
        assert loading.current() is loading.load(inventory)["web2.example.com"]


def test_a_refusal_while_preparing_a_host_names_the_host(monkeypatch):
    monkeypatch.chdir(FLEET)
    inventory = read_inventory("inventories/prod.py")
    with ctx_inventory.use(inventory), ctx_host.use(inventory.get_host("mon1.example.net")):
        refusal = loading.refuse((("mail", "port"), 26, "expected 25"))
    assert str(refusal) == (
        "invalid group_data for mon1.example.net, nothing was changed on any host:\n"
        "  group_data/all.py: mail.port = 26: expected 25"
    )


@pytest.mark.parametrize(("inventory", "source"), [
    ('web = [("web1.example.com", {"disposable": "perhaps"})]\nmonitors = ["mon1.example.net"]\n',
     "the inventory (host web1.example.com)"),
    ('web = (["web1.example.com"], {"disposable": "perhaps"})\nmonitors = ["mon1.example.net"]\n',
     "the inventory (group web)"),
])
def test_a_bad_value_names_the_inventory_entry_it_comes_from(project_copy, inventory, source):
    (project_copy / "inventories/mine.py").write_text(inventory)
    with pytest.raises(loading.SettingsError) as raised:
        loading.load(read_inventory("inventories/mine.py"))
    assert f"  {source}: disposable = 'perhaps': expected True or False" in str(raised.value)


def test_a_bad_value_given_with_data_names_the_command_line(project_copy):
    with ctx_state.use(State()):
        inventory = make_inventory(str(project_copy / "inventories/prod.py"), cwd=str(project_copy),
                                   override_data={"disposable": "perhaps"})
    with pytest.raises(loading.SettingsError) as raised:
        loading.load(inventory)
    assert "  --data on the command line: disposable = 'perhaps': expected True or False" in str(raised.value)


def test_every_problem_is_a_line_of_its_own(project_copy):
    (project_copy / "inventories/mine.py").write_text(
        'web = [("web1.example.com", {"disposable": "perhaps"}), ("web2.example.com", {"disposable": 3})]\n'
        'monitors = ["mon1.example.net"]\n')
    with pytest.raises(loading.SettingsError) as raised:
        loading.load(read_inventory("inventories/mine.py"))
    assert str(raised.value).splitlines() == [
        "invalid group_data, nothing was changed on any host:",
        "  the inventory (host web1.example.com): disposable = 'perhaps': expected True or False",
        "  the inventory (host web2.example.com): disposable = 3: expected True or False",
    ]


def test_a_connector_that_declares_no_data_leaves_the_rest_loading(monkeypatch):
    """A connector of another package may declare no data: the others' keys (the lab's
    ssh_*) are still pyinfra's, and loading goes on."""
    connectors = loading.get_all_connectors()
    monkeypatch.setattr(loading, "get_all_connectors", lambda: {"bare": object(), **connectors})
    monkeypatch.chdir(FLEET)
    assert set(load_settings()) == {"web1", "web2", "mon1"}
