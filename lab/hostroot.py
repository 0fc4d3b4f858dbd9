"""What makes the shared base image into one host: the files written into its root (an
overlay of the base) before it boots. Name, addresses, network, apt source from
lab/templates/host (mirroring the paths in the root); keys and IDs made fresh."""

import shutil
from pathlib import Path

from lab import TEMPLATES, render, run
from lab.topology import CACHE_MOUNT, Lab, LabHost

FILES = Path(__file__).parent / "files"
HOST_TEMPLATES = TEMPLATES / "host"


def customise(lab: Lab, lab_host: LabHost, root: Path) -> None:
    """Write ``lab_host``'s own files into ``root``."""
    (root / "etc/hostname").write_text(f"{lab_host.name}\n")
    (root / "etc/machine-id").write_text(run("systemd-id128", "new", capture=True))
    for template in sorted(HOST_TEMPLATES.rglob("*.j2")):
        path = template.relative_to(HOST_TEMPLATES).with_suffix("")
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # the base's resolv.conf is a link
        target.write_text(render(f"host/{path}.j2", lab=lab, lab_host=lab_host, cache_mount=CACHE_MOUNT))
    run("ssh-keygen", "-A", "-f", root, quiet=True)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(lab.ssh_key.with_suffix(".pub").read_text())
    keys.chmod(0o600)
    wants = root / "etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
    wants.unlink(missing_ok=True)
    wants.symlink_to("/lib/systemd/system/systemd-networkd.service")
    for source in (root / "etc/apt/sources.list.d").glob("*"):
        source.unlink()
    (root / CACHE_MOUNT.lstrip("/")).mkdir(parents=True, exist_ok=True)
    shutil.copy(FILES / "lab-init", root / "usr/local/sbin/lab-init")
