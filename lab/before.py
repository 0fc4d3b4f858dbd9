"""What a production web host has before Holdfast, in the lab: Debian's own nginx and Monit,
as their packages install them, so that every deploy takes over an existing edge and
supervisor; and a note of that state (``nginx -T``, the unit files, the running services),
taken once, before Holdfast's first deploy, for the uninstall test to compare with."""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Directory, File
from pyinfra.operations import apt, server

PACKAGES = ("nginx", "monit")
NOTE_DIR = "/var/lib/holdfast-lab-before"
# name -> the command whose output is noted (and compared after `make uninstall`).
NOTED = {
    "nginx-T": "nginx -T 2>&1",
    "unit-files": "systemctl list-unit-files --no-legend --no-pager | awk '$2 != \"transient\" { print $1, $2 }'",
    "running-services": "systemctl list-units --type=service --state=running --no-legend --no-pager "
                        "| awk '{ print $1 }'",
}


@deploy("Debian's nginx and Monit, as installed (lab only)")
def deploy_debian_edge() -> None:
    """Install nginx and Monit with the distribution's configuration."""
    apt.packages(name="Install Debian's nginx and Monit", packages=list(PACKAGES))


@deploy("The host's state before Holdfast (lab only)")
def note_state_before() -> None:
    """Note the host's state once, while Holdfast has never been deployed on it (last: after
    everything else the lab installs)."""
    if not host.get_fact(Directory, path="/var/lib/holdfast") and not host.get_fact(File, path=f"{NOTE_DIR}/nginx-T"):
        server.shell(name="Note the host's state before Holdfast", commands=[
            f"mkdir -p {NOTE_DIR}",
            *(f"( {command} ) > {NOTE_DIR}/{name}" for name, command in NOTED.items()),
        ])
