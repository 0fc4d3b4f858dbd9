"""nginx at the edge: every site of group_data served through nginx to its backend."""

from pyinfra.api import deploy
from pyinfra.operations import apt, systemd

from holdfast import settings
from holdfast.safe_config import ConfigFile, validated_config
from holdfast.templates import render

PACKAGES = ("nginx",)
SITES_DIR = "/etc/nginx/holdfast/sites"


def config_files(host_settings: settings.HostSettings) -> list[ConfigFile]:
    """nginx.conf and one server file per site."""
    return [
        ConfigFile("/etc/nginx/nginx.conf", render("nginx/etc/nginx/nginx.conf.j2")),
        *(
            ConfigFile(f"{SITES_DIR}/{name}.conf", render("nginx/etc/nginx/holdfast/sites/site.conf.j2", name=name, site=site))
            for name, site in host_settings.sites.items()
        ),
    ]


@deploy("nginx")
def deploy_nginx() -> None:
    """Install nginx and serve every site; a rejected configuration never goes live."""
    host_settings = settings.current()
    apt.packages(name="Install nginx", packages=list(PACKAGES))
    validated_config(
        name="nginx configuration",
        config="nginx",
        files=config_files(host_settings),
        validate="nginx -t -q",
        reload="systemctl reload-or-restart nginx",
        owned=[f"{SITES_DIR}/*.conf"],
    )
    systemd.service(name="nginx enabled and running", service="nginx", running=True, enabled=True)
