"""WordPress in the lab: Debian's wordpress, MariaDB and PHP-FPM on the web hosts, one
seeded WordPress per FastCGI site (its database, user and configuration made on the
host), installed by the lab's own deploy (never by deploy.py)."""

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from holdfast import loading
from lab import render
from lab.site import fastcgi_sites

# Debian's wordpress needs "an httpd" and "php": named here, nginx (which Holdfast then
# configures) and the php metapackage with php8.2-fpm, so apt chooses no apache2.
PACKAGES = (
    "nginx",
    "php",
    "php8.2-fpm",
    "php8.2-mysql",
    "mariadb-server",
    "wordpress",
    "wordpress-theme-twentytwentythree",
)
SETUP_DIR = "/usr/local/lib/lab-wordpress"


def database_name(name: str) -> str:
    """The MariaDB database (and user) of a site: wp_<name>, '-' as '_'."""
    return "wp_" + name.replace("-", "_")


@deploy("WordPress (lab only)")
def deploy_wordpress() -> None:
    """Install WordPress and MariaDB; set up and seed a WordPress for every FastCGI site."""
    sites = fastcgi_sites(loading.current())
    if not sites:
        return
    apt.packages(name="Install WordPress, MariaDB and PHP-FPM", packages=list(PACKAGES))
    systemd.service(name="MariaDB running", service="mariadb.service", running=True, enabled=True)
    files.directory(name="WordPress set-up scripts", path=SETUP_DIR, mode="700")
    for name, site in sites.items():
        script = f"{SETUP_DIR}/{name}.php"
        files.put(
            name=f"WordPress set-up of {name}",
            src=StringIO(render(
                "wordpress/setup.php.j2", name=name, site=site, database=database_name(name),
                password_file=f"/etc/wordpress/{name}.db-password",
                config_file=f"/etc/wordpress/config-{site.server_names[0]}.php",
            )),
            dest=script,
            mode="600",
        )
        server.shell(name=f"WordPress of {name} set up and seeded", commands=[f"php {script}"])
        files.directory(name=f"WordPress's uploads of {name}", path=f"{site.root}/wp-content/uploads",
                        user="www-data", group="www-data", mode="755")
