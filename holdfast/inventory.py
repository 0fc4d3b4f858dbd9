"""The inventory as Holdfast reads it: the groups it deploys to, how the deploy machine
reaches a host, and the addresses of the monitors hosts (the edge's allow-list, the audit)."""

import ipaddress
import socket
from pathlib import Path

from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from holdfast.loading import SettingsError

# The inventory groups Holdfast deploys to: the hosts it protects and watches, and the
# external monitors.
WATCHED_GROUP = "web"
MONITOR_GROUP = "monitors"


def address_of(pyinfra_host) -> str:
    """How the deploy machine reaches an inventory host: its ``ssh_hostname``, else its name."""
    return pyinfra_host.data.get("ssh_hostname") or pyinfra_host.name


def read_inventory(path: str | Path):
    """The pyinfra inventory at ``path``, with group_data from the current directory, as
    the ``pyinfra`` command loads it (for the tests, the audit and the benchmarks)."""
    with ctx_state.use(State()):
        return make_inventory(str(Path(path).resolve()), cwd=str(Path.cwd()))


def monitor_addresses(inventory) -> dict[str, list[str]]:
    """Addresses of the inventory's monitors hosts, by host name: ``ssh_hostname`` (or the
    host name) as an address, else what it resolves to on the machine running the deploy."""
    addresses = {}
    for monitor in inventory.get_group(MONITOR_GROUP, []):
        name = address_of(monitor)
        try:
            addresses[monitor.name] = [str(ipaddress.ip_address(name))]
        except ValueError:
            try:
                found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
            except OSError as error:
                raise SettingsError(
                    f"monitors host {monitor.name}: cannot resolve {name!r} for the nginx allow-list ({error}); "
                    "give it an address as ssh_hostname in the inventory"
                ) from None
            addresses[monitor.name] = sorted({info[4][0] for info in found})
    return addresses
