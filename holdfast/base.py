"""Base capability: the package index policy and the tools the other capabilities use."""


from pyinfra.api import deploy
from pyinfra.facts.files import Directory
from pyinfra.facts.server import Command
from pyinfra.operations import apt, server

from holdfast import in_place, loading, planning
from holdfast.facts import INSTALLED_PACKAGES, MatchingFiles
from holdfast.safe_config import APPLY_COMMAND, ORIGINALS, STATE_DIR
from holdfast.settings import HostSettings
from holdfast.templates import render

# curl: health checks, heartbeats and the tests' probes.
PACKAGES = ("curl", "ca-certificates")
# The packages installed before Holdfast's first deploy, one per line (what uninstalling
# leaves; holdfast/uninstall.py).
PACKAGES_BEFORE = f"{ORIGINALS}/packages-before"


STATE_DIR_FOUND = (Directory, {"path": STATE_DIR})
PACKAGES_HALF_DONE = (Command, {"command": "dpkg --audit"})
SWAPS_HALF_DONE = (MatchingFiles, {"patterns": [f"{STATE_DIR}/journal/*/reload"]})


def reads(host_settings: HostSettings) -> list[planning.Query]:
    """What the base capability reads to plan (planning.read_together)."""
    return [STATE_DIR_FOUND, PACKAGES_HALF_DONE, SWAPS_HALF_DONE]


@deploy("Holdfast base")
def deploy_base() -> None:
    """Refresh the apt index on a schedule, install the shared tools and the config swapper;
    finish what a cut-off deploy left half done (a package install, a journalled swap)."""
    host_settings = loading.current()
    if not planning.fact(STATE_DIR_FOUND):
        server.shell(
            name="Note the packages installed before Holdfast's first deploy",
            commands=[f"mkdir -p {ORIGINALS} && {INSTALLED_PACKAGES} > {PACKAGES_BEFORE}.new && "
                      f"mv {PACKAGES_BEFORE}.new {PACKAGES_BEFORE}"],
        )
    if planning.fact(PACKAGES_HALF_DONE):
        # A deploy cut off during an install (SIGPIPE reaches apt) leaves dpkg half done,
        # and apt refuses to install anything until it is finished.
        server.shell(name="Finish the package installation a cut-off deploy left",
                     commands=["DEBIAN_FRONTEND=noninteractive dpkg --configure -a"])
    apt.update(
        name=f"Refresh the apt index (at most every {host_settings.apt.cache_time}s)",
        cache_time=host_settings.apt.cache_time,
        _if=in_place.unless_packages_in_place(),  # an install needs it; a no-op does not
    )
    in_place.packages("Install Holdfast's shared tools", list(PACKAGES))
    in_place.directory("Holdfast state directory", STATE_DIR, mode="700")
    in_place.put("Install the validate-then-swap helper",
                 render("base/usr/local/sbin/holdfast-apply-config.j2", state_dir=STATE_DIR), APPLY_COMMAND, mode="755")
    if planning.fact(SWAPS_HALF_DONE):
        server.shell(name="Complete the configuration swaps a cut-off deploy began",
                     commands=[f"{APPLY_COMMAND} --finish"])
