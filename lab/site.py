"""The lab's site's faults on demand: a must-use plugin in the WordPress of every FastCGI
site (lab/wordpress.py installs it) and the `standin` tool that triggers them, installed on
the web hosts by the lab's own deploy (never by deploy.py)."""

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd

from holdfast import loading, settings
from lab import render

# libfcgi-bin's cgi-fcgi lets `standin` and the tests talk to PHP-FPM directly, without nginx.
PACKAGES = ("libfcgi-bin",)
STATE_DIR = "/var/lib/standin"
LOOP_ARMED_FILE = f"{STATE_DIR}/loop-armed"
# The armed loop's start and how hard it spun, as PHP saw them: lines "<epoch> <CPU seconds
# its worker used>", the first when the loop began.
LOOP_STARTED_FILE = f"{STATE_DIR}/loop-started"
FAULTS_FILE = "/usr/local/lib/standin/faults.php"
# A signed-in visitor (WordPress's log-in cookie, which the must-use plugin takes for a
# member's): nginx never answers it from its cache, and the page it gets says so
# (MEMBER_EXPECT), so an answer with that text came from the application.
MEMBER_COOKIE = "wordpress_logged_in_lab=member"
MEMBER_EXPECT = "Signed in"


def fastcgi_sites(host_settings: settings.HostSettings) -> dict[str, settings.Site]:
    """The sites served by PHP-FPM: the lab runs WordPress in each."""
    return {name: site for name, site in host_settings.sites.items() if site.backend.kind == "fastcgi"}


def standin_site(host_settings: settings.HostSettings) -> settings.Site | None:
    """The site whose service `standin` breaks, and that the drill and benches use: the
    host's first FastCGI site (None if it has none)."""
    return next(iter(fastcgi_sites(host_settings).values()), None)


@deploy("Stand-in faults (lab only)")
def deploy_standin() -> None:
    """The faults plugin in every FastCGI site's WordPress, and the `standin` tool."""
    host_settings = loading.current()
    sites = fastcgi_sites(host_settings)
    if not sites:
        return
    apt.packages(name="Install cgi-fcgi", packages=list(PACKAGES))
    files.directory(name="Stand-in state", path=STATE_DIR, user="root", group="www-data", mode="775")
    files.directory(name="Stand-in faults directory", path=FAULTS_FILE.rsplit("/", 1)[0])
    files.put(name="Stand-in faults", src=StringIO(render("site/faults.php.j2")), dest=FAULTS_FILE)
    for name, site in sites.items():
        files.directory(name=f"Must-use plugins of {name}", path=f"{site.root}/wp-content/mu-plugins")
        files.put(
            name=f"Stand-in plugin in {name}",
            src=StringIO(render(
                "site/standin.php.j2", site=site, loop_armed_file=LOOP_ARMED_FILE, loop_started_file=LOOP_STARTED_FILE,
                faults_file=FAULTS_FILE, member_cookie=MEMBER_COOKIE.split("=")[0], member_expect=MEMBER_EXPECT,
            )),
            dest=f"{site.root}/wp-content/mu-plugins/standin.php",
        )
    site = standin_site(host_settings)
    service = host_settings.services[site.backend.service]
    files.put(
        name="The `standin` fault tool",
        src=StringIO(render("site/standin.j2", site=site, service=service, state_dir=STATE_DIR,
                            loop_armed_file=LOOP_ARMED_FILE, loop_started_file=LOOP_STARTED_FILE,
                            faults_file=FAULTS_FILE)),
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
