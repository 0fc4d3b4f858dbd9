"""The drill's unprotected twin (lab only): the stand-in site behind a plain nginx, with
none of Holdfast's protections: no limits, no slices, no Monit, no fallback page."""

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd

from holdfast import loading
from lab import render
from lab.site import standin_site

# curl: the monitor host's probes in the drill.
PACKAGES = ("nginx", "curl")


@deploy("Plain nginx (lab only)")
def deploy_plain_nginx() -> None:
    """Serve the first FastCGI site through Debian's nginx with a bare server block."""
    site = standin_site(loading.current())
    apt.packages(name="Install nginx", packages=["nginx"])
    files.link(name="No Debian default site", path="/etc/nginx/sites-enabled/default", present=False)
    config = files.put(
        name="A plain server block for the site",
        src=StringIO(render("plain/site.conf.j2", site=site)),
        dest="/etc/nginx/sites-enabled/site.conf",
    )
    systemd.service(name="nginx running", service="nginx", running=True, enabled=True, reloaded=config.will_change)


@deploy("Probe tools (lab only)")
def deploy_probe_tools() -> None:
    """curl, for the drill's probes from the monitor host (Holdfast's base installs it elsewhere)."""
    apt.packages(name="Install curl", packages=["curl"])
