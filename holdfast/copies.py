"""The primary's directories copied to the other web hosts (``failover.copied``), so that the
host the site's address moves to has the files the site serves (WordPress's uploads).

The primary (the peer of highest priority: the address returns there) serves them read-only
from rsync's daemon (Debian's ``rsync.service``), to the peers alone; every other web host
copies them every ``failover.copy_every`` with a timer, deleting what the primary no longer
has, and notes when it last succeeded for the monitor (``FilesCopyStale``). What is copied is
public already: nginx serves it to anyone.
"""

from pyinfra import host
from pyinfra.api import deploy

from holdfast import failover, in_place, loading, settings
from holdfast.monitoring import TEXTFILE_DIR
from holdfast.safe_config import UNIT_DIR, ConfigFile, validated_config
from holdfast.templates import render

PACKAGES = ("rsync",)
PORT = 873
RSYNCD_CONFIG = "/etc/rsyncd.conf"  # Debian's rsync.service starts only where it exists
DAEMON = "rsync.service"
UNIT = "holdfast-copy"
SCRIPT = f"/usr/local/sbin/{UNIT}"
TEXTFILE = f"{TEXTFILE_DIR}/holdfast_copy.prom"
OWNED = [RSYNCD_CONFIG, SCRIPT, f"{UNIT_DIR}/{UNIT}.service", f"{UNIT_DIR}/{UNIT}.timer"]
# rsync's daemon started on a spare loopback port with the candidate, and asked for a module.
VALIDATE_DAEMON = (
    f"rsync --daemon --no-detach --config={RSYNCD_CONFIG} --address=127.0.0.1 --port=18873 & daemon=$!; "
    "sleep 1; rsync --timeout=5 rsync://127.0.0.1:18873/copied-0/ >/dev/null; status=$?; kill $daemon; exit $status"
)


def active(host_settings: settings.HostSettings) -> bool:
    """Whether this host takes part: failover on, with sites, and directories to copy."""
    return failover.active(host_settings) and bool(host_settings.failover.copied)


def source(host_settings: settings.HostSettings) -> str:
    """The web host the others copy from: the peer of highest priority."""
    return host_settings.failover.ranked[0]


def modules(host_settings: settings.HostSettings) -> dict[str, str]:
    """rsync's module name -> directory, one per ``failover.copied`` entry."""
    return {f"copied-{index}": path for index, path in enumerate(host_settings.failover.copied)}


def config_files(host_name: str, host_settings: settings.HostSettings) -> list[ConfigFile]:
    """The primary's rsyncd.conf; another web host's copy script and its timer."""
    policy = host_settings.failover
    if host_name == source(host_settings):
        return [ConfigFile(RSYNCD_CONFIG, render(
            "copies/etc/rsyncd.conf.j2", modules=modules(host_settings), port=PORT,
            peers=[peer.address for name, peer in policy.peers.items() if name != host_name],
        ))]
    return [
        ConfigFile(SCRIPT, render(f"copies{SCRIPT}.j2", modules=modules(host_settings),
                                  primary=policy.peers[source(host_settings)].address, textfile=TEXTFILE), mode="755"),
        ConfigFile(f"{UNIT_DIR}/{UNIT}.service", render(f"copies/etc/systemd/system/{UNIT}.service.j2", script=SCRIPT)),
        ConfigFile(f"{UNIT_DIR}/{UNIT}.timer", render(f"copies/etc/systemd/system/{UNIT}.timer.j2",
                                                      every=policy.copy_every)),
    ]


@deploy("Copies of the primary's directories")
def deploy_copies() -> None:
    """rsync's daemon on the primary; the copy's timer on the other web hosts (a host whose
    role changed, after a promotion, leaves the other role's files and units)."""
    host_settings = loading.current()
    if not active(host_settings):
        return
    in_place.packages("Install rsync", list(PACKAGES))
    primary = host.name == source(host_settings)
    if primary:
        validate = VALIDATE_DAEMON
        reload = f"systemctl daemon-reload && systemctl stop {UNIT}.timer 2>/dev/null; systemctl restart {DAEMON}"
    else:
        validate = f"systemd-analyze verify {UNIT_DIR}/{UNIT}.service {UNIT_DIR}/{UNIT}.timer"
        reload = f"systemctl daemon-reload && systemctl stop {DAEMON} 2>/dev/null; systemctl restart {UNIT}.timer"
    validated_config(name="The primary's directories: served, or copied", config="copies",
                     files=config_files(host.name, host_settings), validate=validate, reload=reload, owned=OWNED)
    if primary:
        in_place.service("rsync's daemon serving them", DAEMON)
    else:
        in_place.service("Their copy's timer running", f"{UNIT}.timer")
