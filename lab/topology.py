"""What the lab is made of: its hosts, their addresses, and where its state lives.

One lab runs per name (``HOLDFAST_LAB``, default ``main``); each has its own bridge,
subnet, hosts and state, so two labs can run side by side on one machine. The base
image and the local apt repositories are shared by all labs.
"""

import ipaddress
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

# The sample fleet the lab runs and the tests expect: its group_data/ and inventories/ (the
# lab's, and a production one the unit tests read). The repository's group_data/ and
# inventories/prod.py are the user's own fleet: the lab never reads them.
FLEET = Path(__file__).resolve().parent / "fleet"
LAB_INVENTORY = "inventories/lab.py"

CACHE_DIR = Path(os.environ.get("HOLDFAST_LAB_CACHE", "/var/cache/holdfast-lab"))
# The cache (base image, repositories) is bind-mounted read-only into every host; the
# host's apt source is this lab's link in it, so a new package set needs no restart.
CACHE_MOUNT = "/srv/holdfast-lab-cache"
STATE_ROOT = Path("/var/lib/holdfast-lab")
CGROUP_ROOT = Path("/sys/fs/cgroup")
DEBIAN_RELEASE = "bookworm"
DEBIAN_MIRROR = os.environ.get("HOLDFAST_LAB_MIRROR", "http://deb.debian.org/debian")

# Offsets of host addresses inside the lab subnet.
BRIDGE_OFFSET = 1
MONITOR_OFFSET = 10
WEB_OFFSET = 10
# The service address of the lab's site (group_data/lab.py's failover), held by one web host.
SERVICE_OFFSET = 100
# Extra addresses on the bridge, so traffic from the machine can come from distinct
# sources: name -> offset. "office" is allow-listed by lab/fleet/group_data/lab.py.
CLIENT_OFFSETS = {"office": 200, "visitor": 201, "visitor2": 202, "visitor3": 203, "visitor4": 204, "attacker": 210}
# The drill's crowd comes from more addresses than a /24 holds beside the hosts: a /24 of the
# benchmarking network (RFC 2544) per lab, the one numbered by the lab subnet's second octet
# (two labs that share it must not run a crowd at once). The hosts route it to the bridge.
CROWD_NETWORKS = ipaddress.ip_network("198.18.0.0/15")


@dataclass(frozen=True)
class LabHost:
    """One lab host: its inventory name, group and address."""

    name: str
    group: str
    address: str


@dataclass(frozen=True)
class Lab:
    """One named lab: its subnet, hosts and paths, all derived from a few settings."""

    name: str
    subnet: ipaddress.IPv4Network
    web_hosts: int

    @classmethod
    def from_environment(cls) -> "Lab":
        name = os.environ.get("HOLDFAST_LAB", "main")
        if not name.isalnum() or len(name) > 8:
            raise ValueError(f"HOLDFAST_LAB={name!r}: expected 1-8 letters or digits")
        subnet = ipaddress.ip_network(os.environ.get("HOLDFAST_LAB_SUBNET", "10.123.0.0/24"))
        if subnet.prefixlen > 24:
            raise ValueError(f"HOLDFAST_LAB_SUBNET={subnet}: expected a /24 or larger network")
        web_hosts = int(os.environ.get("HOLDFAST_LAB_WEB_HOSTS", "2"))
        if not 1 <= web_hosts <= 50:
            raise ValueError(f"HOLDFAST_LAB_WEB_HOSTS={web_hosts}: expected 1 to 50")
        return cls(name, subnet, web_hosts)

    def environment(self) -> dict[str, str]:
        """This process's environment with this lab's settings: what ``from_environment``
        reads back as this lab (for commands run on it, e.g. ``python -m lab up``)."""
        return {**os.environ, "HOLDFAST_LAB": self.name, "HOLDFAST_LAB_SUBNET": str(self.subnet),
                "HOLDFAST_LAB_WEB_HOSTS": str(self.web_hosts)}

    def address(self, offset: int) -> str:
        return str(self.subnet.network_address + offset)

    @cached_property
    def hosts(self) -> tuple[LabHost, ...]:
        monitors = (LabHost("mon1", "monitors", self.address(MONITOR_OFFSET)),)
        web = tuple(
            LabHost(f"web{i}", "web", self.address(WEB_OFFSET + i))
            for i in range(1, self.web_hosts + 1)
        )
        return web + monitors

    def group(self, group: str) -> list[LabHost]:
        return [lab_host for lab_host in self.hosts if lab_host.group == group]

    @property
    def bridge(self) -> str:
        return f"hf-{self.name}"

    @property
    def bridge_address(self) -> str:
        return self.address(BRIDGE_OFFSET)

    @property
    def service_address(self) -> str:
        return self.address(SERVICE_OFFSET)

    @property
    def client_addresses(self) -> dict[str, str]:
        return {name: self.address(offset) for name, offset in CLIENT_OFFSETS.items()}

    @property
    def crowd_network(self) -> ipaddress.IPv4Network:
        second_octet = self.subnet.network_address.packed[1]
        return ipaddress.ip_network((int(CROWD_NETWORKS.network_address) + (second_octet << 8), 24))

    def crowd_addresses(self, count: int) -> list[str]:
        """``count`` addresses of the crowd's network (at most 254)."""
        hosts = list(self.crowd_network.hosts())
        if not 1 <= count <= len(hosts):
            raise ValueError(f"a crowd of {count}: expected 1 to {len(hosts)} addresses")
        return [str(address) for address in hosts[:count]]

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def repository_link(self) -> str:
        """Name, in the cache, of the link to the apt repository this lab's hosts use."""
        return f"repo-of-lab-{self.name}"

    @property
    def ssh_key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def ssh_config(self) -> Path:
        return self.state_dir / "ssh_config"

    @property
    def hosts_dir(self) -> Path:
        return self.state_dir / "hosts"

    def ssh_command(self, lab_host: LabHost, script: str, connect_timeout: int) -> list[str]:
        """The command that runs ``script`` on ``lab_host`` as root, over SSH with the lab's key."""
        return [
            "ssh", "-i", str(self.ssh_key),
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            "-o", f"ConnectTimeout={connect_timeout}",
            f"root@{lab_host.address}", script,
        ]

    def host_dir(self, lab_host: LabHost) -> Path:
        return self.hosts_dir / lab_host.name

    def machine_name(self, lab_host: LabHost) -> str:
        return f"hf-{self.name}-{lab_host.name}"

    def connection_data(self, lab_host: LabHost) -> dict:
        """pyinfra connection data for one lab host."""
        return {
            "ssh_hostname": lab_host.address,
            "ssh_user": "root",
            "ssh_key": str(self.ssh_key),
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "no",
            "ssh_connect_retries": 2,
        }

    def inventory_group(self, group: str) -> list[tuple[str, dict]]:
        """A pyinfra inventory group of lab hosts."""
        return [(lab_host.name, self.connection_data(lab_host)) for lab_host in self.group(group)]


LAB = Lab.from_environment()
