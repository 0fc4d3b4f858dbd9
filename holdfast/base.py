"""Base capability: the package index policy and the tools the other capabilities use."""

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files

from holdfast import loading
from holdfast.safe_config import APPLY_COMMAND, STATE_DIR
from holdfast.templates import render

# curl: health checks, heartbeats and the tests' probes.
PACKAGES = ("curl", "ca-certificates")


@deploy("Holdfast base")
def deploy_base() -> None:
    """Refresh the apt index on a schedule, install the shared tools and the config swapper."""
    host_settings = loading.current()
    apt.update(
        name=f"Refresh the apt index (at most every {host_settings.apt.cache_time}s)",
        cache_time=host_settings.apt.cache_time,
    )
    apt.packages(name="Install Holdfast's shared tools", packages=list(PACKAGES))
    files.directory(name="Holdfast state directory", path=STATE_DIR, mode="700")
    files.put(
        name="Install the validate-then-swap helper",
        src=StringIO(render("base/usr/local/sbin/holdfast-apply-config.j2", state_dir=STATE_DIR)),
        dest=APPLY_COMMAND,
        mode="755",
    )
