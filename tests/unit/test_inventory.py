"""The inventory as Holdfast reads it: the monitors hosts' addresses for the allow-list and the audit."""

import pytest

from holdfast import loading
from holdfast.inventory import monitor_addresses, read_inventory, ssh_command
from lab.topology import LAB
from tests.conftest import FLEET


def test_monitor_addresses_come_from_the_inventory(monkeypatch):
    monkeypatch.chdir(FLEET)
    inventory = read_inventory("inventories/lab.py")
    assert monitor_addresses(inventory) == {host.name: [host.address] for host in LAB.group("monitors")}


class _Monitor:
    def __init__(self, name: str, data: dict):
        self.name = name
        self.data = data


class _Inventory:
    def __init__(self, *monitors: _Monitor):
        self.monitors = list(monitors)

    def get_group(self, name, default):
        return self.monitors if name == "monitors" else default


def test_monitor_named_by_host_name_is_resolved():
    inventory = _Inventory(_Monitor("localhost", {}))
    assert "127.0.0.1" in monitor_addresses(inventory)["localhost"]


def test_monitor_that_does_not_resolve_is_an_error_naming_it():
    inventory = _Inventory(_Monitor("mon1", {"ssh_hostname": "mon1.invalid"}))
    with pytest.raises(loading.SettingsError, match="monitors host mon1: cannot resolve 'mon1.invalid'"):
        monitor_addresses(inventory)


class _Host:
    def __init__(self, name, data):
        self.name, self.data = name, data


def test_ssh_takes_the_inventory_s_connection_data_and_sudo():
    lab = _Host("web1", {"ssh_hostname": "10.1.0.11", "ssh_port": 2222, "ssh_user": "root", "ssh_key": "/k",
                         "ssh_known_hosts_file": "/known", "ssh_strict_host_key_checking": "yes"})
    assert ssh_command(lab, "monit summary", connect_timeout=5) == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-p", "2222", "-i", "/k",
        "-o", "UserKnownHostsFile=/known", "-o", "StrictHostKeyChecking=yes", "root@10.1.0.11", "monit summary"]
    production = _Host("web1.example.com", {"ssh_user": "deploy", "_sudo": True})
    assert ssh_command(production, "monit summary 'x'") == [
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR",
        "deploy@web1.example.com", """sudo -n sh -c 'monit summary '"'"'x'"'"''"""]
    assert ssh_command(_Host("web2.example.com", {}), "true")[-2:] == ["web2.example.com", "true"]
