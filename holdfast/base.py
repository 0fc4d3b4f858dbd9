"""Base capability: the package index policy and the tools the other capabilities use."""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Directory
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server

from holdfast import loading
from holdfast.facts import INSTALLED_PACKAGES, MatchingFiles
from holdfast.safe_config import APPLY_COMMAND, ORIGINALS, STATE_DIR
from holdfast.templates import render

# curl: health checks, heartbeats and the tests' probes.
PACKAGES = ("curl", "ca-certificates")
# The packages installed before Holdfast's first deploy, one per line (what uninstalling
# leaves; holdfast/uninstall.py).
PACKAGES_BEFORE = f"{ORIGINALS}/packages-before"


@deploy("Holdfast base")
def deploy_base() -> None:
    """Refresh the apt index on a schedule, install the shared tools and the config swapper;
    finish what a cut-off deploy left half done (a package install, a journalled swap)."""
    host_settings = loading.current()
    if not host.get_fact(Directory, path=STATE_DIR):
        server.shell(
            name="Note the packages installed before Holdfast's first deploy",
            commands=[f"mkdir -p {ORIGINALS} && {INSTALLED_PACKAGES} > {PACKAGES_BEFORE}.new && "
                      f"mv {PACKAGES_BEFORE}.new {PACKAGES_BEFORE}"],
        )
    if host.get_fact(Command, command="dpkg --audit"):
        # A deploy cut off during an install (SIGPIPE reaches apt) leaves dpkg half done,
        # and apt refuses to install anything until it is finished.
        server.shell(name="Finish the package installation a cut-off deploy left",
                     commands=["DEBIAN_FRONTEND=noninteractive dpkg --configure -a"])
    apt.update(
        name=f"Refresh the apt index (at most every {host_settings.apt.cache_time}s)",
        cache_time=host_settings.apt.cache_time,
    )
    apt.packages(name="Install Holdfast's shared tools", packages=list(PACKAGES), no_recommends=True)
    files.directory(name="Holdfast state directory", path=STATE_DIR, mode="700")
    files.put(
        name="Install the validate-then-swap helper",
        src=StringIO(render("base/usr/local/sbin/holdfast-apply-config.j2", state_dir=STATE_DIR)),
        dest=APPLY_COMMAND,
        mode="755",
    )
    if host.get_fact(MatchingFiles, patterns=[f"{STATE_DIR}/journal/*/reload"]):
        server.shell(name="Complete the configuration swaps a cut-off deploy began",
                     commands=[f"{APPLY_COMMAND} --finish"])
