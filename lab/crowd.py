"""The drill's crowd on the machine's side of a lab's bridge: many source addresses, added
for a run and removed after it. The hosts route them back to the bridge
(lab/templates/host/etc/systemd/network)."""

import contextlib
import subprocess
from collections.abc import Iterator

from lab import LabError
from lab.topology import Lab


@contextlib.contextmanager
def on_the_bridge(lab: Lab, count: int) -> Iterator[list[str]]:
    """``count`` of the lab's crowd addresses on its bridge while the block runs."""
    addresses = lab.crowd_addresses(count)
    _addresses(lab, "del", addresses, check=False)  # left by a run that was killed
    _addresses(lab, "add", addresses)
    try:
        yield addresses
    finally:
        _addresses(lab, "del", addresses)


def _addresses(lab: Lab, action: str, addresses: list[str], check: bool = True) -> None:
    commands = "".join(f"address {action} {address}/32 dev {lab.bridge}\n" for address in addresses)
    result = subprocess.run(["ip", "-force", "-batch", "-"], input=commands, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise LabError(f"ip address {action} on {lab.bridge} failed: {result.stderr.strip()[-2000:]}")
