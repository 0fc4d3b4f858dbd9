"""The lab's base image and its offline apt repository, both built once and cached.

The base is a minimal Debian made by debootstrap. The repository holds every package
the deploys install (derived from the deploy modules themselves) with its dependencies,
so lab hosts install offline.
"""

import fcntl
import hashlib
import shutil
from contextlib import contextmanager
from pathlib import Path

from lab import log, run
from lab.topology import CACHE_DIR, DEBIAN_MIRROR, DEBIAN_RELEASE

# What every lab host boots with: systemd as PID 1, sshd, python3 for the tests' helpers.
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
    "openssh-server",
    "iproute2",
    "python3",
    "ca-certificates",
)
COMPLETE_MARKER = ".holdfast-complete"


def _digest(words) -> str:
    return hashlib.sha256(" ".join(sorted(words)).encode()).hexdigest()[:12]


@contextmanager
def _cache_lock():
    """One builder at a time in the cache (labs with other names may be coming up too)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def base_image() -> Path:
    """The cached base root filesystem, built by debootstrap the first time."""
    base = CACHE_DIR / f"base-{DEBIAN_RELEASE}-{_digest(BASE_PACKAGES)}"
    with _cache_lock():
        if not (base / COMPLETE_MARKER).exists():
            _debootstrap(base)
    return base


def _debootstrap(base: Path) -> None:
    log(f"building the base image with debootstrap (about a minute): {base}")
    partial = base.with_name(base.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    run(
        "debootstrap",
        "--variant=minbase",
        "--include=" + ",".join(BASE_PACKAGES),
        DEBIAN_RELEASE,
        partial,
        DEBIAN_MIRROR,
        quiet=True,
    )
    # Each host gets its own SSH host keys and machine id when it is created.
    for key in (partial / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (partial / "etc/machine-id").write_text("")
    shutil.rmtree(partial / "var/cache/apt/archives", ignore_errors=True)
    (partial / "var/cache/apt/archives/partial").mkdir(parents=True)
    (partial / COMPLETE_MARKER).touch()
    partial.rename(base)


def mount_disk(directory: Path, size: str) -> Path:
    """A filesystem of ``size`` of its own (ext4 in a sparse file on a loop device, no blocks
    kept for root) mounted at ``directory``/disk: a host's root written on it fills it, not
    this machine's disk, and a full one is full for every process of the host. Return it."""
    image, disk = directory / "disk.img", directory / "disk"
    disk.mkdir(parents=True)
    run("truncate", "--size", size, image)
    run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", image)
    run("mount", "-o", "loop", image, disk)
    return disk


def mount_overlay(base: Path, directory: Path) -> Path:
    """Mount a writable overlay of ``base`` at ``directory``/root, its changes kept in
    ``directory``/upper (``directory`` must not exist yet); return the root."""
    for part in ("upper", "work", "root"):
        (directory / part).mkdir(parents=True)
    root = directory / "root"
    run("mount", "-t", "overlay", "overlay", "-o",
        f"lowerdir={base},upperdir={directory}/upper,workdir={directory}/work", root)
    return root


def package_repository(base: Path, packages: list[str]) -> Path:
    """A local apt repository holding ``packages`` and everything they pull in."""
    repo = CACHE_DIR / f"repo-{DEBIAN_RELEASE}-{_digest(packages)}-{base.name[-12:]}"
    with _cache_lock():
        if not (repo / COMPLETE_MARKER).exists():
            _download_packages(base, packages, repo)
    return repo


def _download_packages(base: Path, packages: list[str], repo: Path) -> None:
    log(f"building the local apt repository for: {' '.join(sorted(packages))}")
    partial = repo.with_name(repo.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "debs").mkdir(parents=True)
    scratch = partial / "chroot"
    root = mount_overlay(base, scratch)
    try:
        (root / "etc/resolv.conf").unlink(missing_ok=True)
        shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
        (root / "etc/apt/sources.list").write_text(
            f"deb {DEBIAN_MIRROR} {DEBIAN_RELEASE} main\n"
            f"deb {DEBIAN_MIRROR} {DEBIAN_RELEASE}-updates main\n"
            f"deb {DEBIAN_MIRROR.rsplit('/', 1)[0]}/debian-security {DEBIAN_RELEASE}-security main\n"
        )
        archives = root / "var/cache/apt/archives"
        run("mount", "--bind", partial / "debs", archives)
        try:
            run("chroot", root, "apt-get", "update", "-qq", quiet=True)
            run("chroot", root, "apt-get", "install", "-y", "-qq", "--download-only",
                *packages, quiet=True, env={"DEBIAN_FRONTEND": "noninteractive"})
        finally:
            run("umount", archives)
    finally:
        run("umount", root)
        shutil.rmtree(scratch)
    debs = partial / "debs"
    shutil.rmtree(debs / "partial", ignore_errors=True)
    (debs / "lock").unlink(missing_ok=True)
    (debs / "Packages").write_text(run("apt-ftparchive", "packages", ".", cwd=debs, capture=True))
    (debs / "Release").write_text(run("apt-ftparchive", "release", ".", cwd=debs, capture=True))
    (partial / COMPLETE_MARKER).touch()
    log(f"repository ready: {len(list(debs.glob('*.deb')))} packages")
    partial.rename(repo)
