"""The inventory as Holdfast reads it: the groups it deploys to, how the deploy machine
reaches a host, and the addresses of the monitors hosts (the edge's allow-list, the audit)."""

import ipaddress
import shlex
import socket
from pathlib import Path

from pyinfra import host, state
from pyinfra.api import Host, State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from holdfast.loading import SettingsError


def current_host() -> Host:
    """pyinfra's object of the host being planned or run (pyinfra's ``host`` stands for it):
    a key for what a deploy keeps per host."""
    return state.inventory.get_host(host.name)


# The inventory groups Holdfast deploys to: the hosts it protects and watches, and the
# external monitors.
WATCHED_GROUP = "web"
MONITOR_GROUP = "monitors"


def address_of(pyinfra_host) -> str:
    """How the deploy machine reaches an inventory host: its ``ssh_hostname``, else its name."""
    return pyinfra_host.data.get("ssh_hostname") or pyinfra_host.name


def ssh_command(pyinfra_host, script: str, connect_timeout: int = 3) -> list[str]:
    """``ssh`` to an inventory host with its pyinfra connection data, running ``script``
    (through ``sudo`` where the inventory says ``_sudo``)."""
    data = pyinfra_host.data
    command = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}", "-o", "LogLevel=ERROR"]
    if data.get("ssh_port"):
        command += ["-p", str(data.get("ssh_port"))]
    if data.get("ssh_key"):
        command += ["-i", str(data.get("ssh_key"))]
    if data.get("ssh_known_hosts_file"):
        command += ["-o", f"UserKnownHostsFile={data.get('ssh_known_hosts_file')}"]
    if data.get("ssh_strict_host_key_checking"):
        command += ["-o", f"StrictHostKeyChecking={data.get('ssh_strict_host_key_checking')}"]
    user = data.get("ssh_user")
    target = f"{user}@{address_of(pyinfra_host)}" if user else address_of(pyinfra_host)
    remote = f"sudo -n sh -c {shlex.quote(script)}" if data.get("_sudo") else script
    return [*command, target, remote]


def read_inventory(path: str | Path):
    """The pyinfra inventory at ``path``, with group_data from the current directory, as
    the ``pyinfra`` command loads it (for the tests, the audit and the benchmarks)."""
    with ctx_state.use(State()):
        return make_inventory(str(Path(path).resolve()), cwd=str(Path.cwd()))


def group_addresses(inventory, group: str, but: str | None = None) -> dict[str, list[str]]:
    """Addresses of the inventory's ``group`` hosts, by host name (but the host named ``but``):
    ``ssh_hostname`` (or the host name) as an address, else what it resolves to on the
    machine running the deploy."""
    addresses = {}
    for member in inventory.get_group(group, []):
        if member.name == but:
            continue
        name = address_of(member)
        try:
            addresses[member.name] = [str(ipaddress.ip_address(name))]
        except ValueError:
            try:
                found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
            except OSError as error:
                raise SettingsError(
                    f"{group} host {member.name}: cannot resolve {name!r} for the nginx allow-list and the "
                    f"firewall ({error}); give it an address as ssh_hostname in the inventory"
                ) from None
            addresses[member.name] = sorted({info[4][0] for info in found})
    return addresses


def monitor_addresses(inventory, but: str | None = None) -> dict[str, list[str]]:
    """Addresses of the monitors hosts (``group_addresses``), e.g. for nginx's allow-list."""
    return group_addresses(inventory, MONITOR_GROUP, but)
