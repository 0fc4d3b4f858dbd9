"""The lab's stand-in for the seed's site: a small PHP app under PHP-FPM, installed on the
web hosts by the lab's own deploy (never by deploy.py), that fails on demand."""

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd

from holdfast import loading, settings
from lab import render

# php-fpm runs the app; libfcgi-bin's cgi-fcgi lets `standin` and the tests talk to
# PHP-FPM directly, without nginx.
PACKAGES = ("php-fpm", "libfcgi-bin")
STATE_DIR = "/var/lib/standin"
LOOP_ARMED_FILE = f"{STATE_DIR}/loop-armed"
LOOP_STARTED_FILE = f"{STATE_DIR}/loop-started"  # the armed loop's start, in epoch seconds, as PHP saw it
# A signed-in visitor: nginx never answers a request with a cookie from its cache, and the
# page it gets says so (MEMBER_EXPECT), so an answer with that text came from the application.
MEMBER_COOKIE = "session=member"
MEMBER_EXPECT = "Signed in"


def standin_site(host_settings: settings.HostSettings) -> settings.Site | None:
    """The site whose service `standin` breaks, and that the drill and benches use: the
    host's first FastCGI site (None if it has none)."""
    return next((site for site in host_settings.sites.values() if site.backend.kind == "fastcgi"), None)


@deploy("Stand-in site (lab only)")
def deploy_standin() -> None:
    """Install the stand-in app in the root of every FastCGI site, and its `standin` tool."""
    host_settings = loading.current()
    fastcgi_sites = {name: site for name, site in host_settings.sites.items() if site.backend.kind == "fastcgi"}
    if not fastcgi_sites:
        return
    apt.packages(name="Install PHP-FPM", packages=list(PACKAGES))
    files.directory(name="Stand-in state", path=STATE_DIR, user="root", group="www-data", mode="775")
    for name, site in fastcgi_sites.items():
        files.directory(name=f"Document root of {name}", path=site.root)
        files.put(
            name=f"Stand-in app for {name}",
            src=StringIO(render("site/index.php.j2", name=name, site=site, loop_armed_file=LOOP_ARMED_FILE,
                                loop_started_file=LOOP_STARTED_FILE, member_expect=MEMBER_EXPECT)),
            dest=f"{site.root}/index.php",
        )
    site = standin_site(host_settings)
    service = host_settings.services[site.backend.service]
    files.put(
        name="The `standin` fault tool",
        src=StringIO(render("site/standin.j2", site=site, service=service, loop_armed_file=LOOP_ARMED_FILE,
                            loop_started_file=LOOP_STARTED_FILE)),
        dest="/usr/local/sbin/standin",
        mode="755",
    )
    crashloop = files.put(
        name="Let `standin crashloop` make starts fail",
        src=StringIO(render("site/crashloop.conf.j2")),
        dest=f"/etc/systemd/system/{service.unit}.d/standin-crashloop.conf",
    )
    systemd.service(
        name=f"{service.unit} running",
        service=service.unit,
        running=True,
        enabled=True,
        daemon_reload=crashloop.will_change,
    )
