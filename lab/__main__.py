"""``python -m lab up|down|status``: bring the lab up, take it down, say what is where."""

import argparse
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from lab import LabError, image, log, run
from lab.machines import Machines, check_machine, raise_kernel_limits
from lab.prerequisites import MACHINE_COMMANDS
from lab.topology import LAB


def required_packages() -> list[str]:
    """Every package the deploys and the lab's own deploy install, read from their modules."""
    import holdfast
    from lab import acme, mailsink, plain, site, wordpress

    lab_packages = {*site.PACKAGES, *wordpress.PACKAGES, *mailsink.PACKAGES, *plain.PACKAGES, *acme.PACKAGES}
    return sorted(holdfast.required_packages() | lab_packages)


def ensure_machine_packages() -> None:
    missing = sorted({package for command, package in MACHINE_COMMANDS.items() if not shutil.which(command)})
    if missing:
        log(f"installing on this machine: {' '.join(missing)}")
        run("apt-get", "update", "-qq", quiet=True)
        run("apt-get", "install", "-y", "-qq", *missing, quiet=True, env={"DEBIAN_FRONTEND": "noninteractive"})


def up() -> None:
    check_machine()
    ensure_machine_packages()
    raise_kernel_limits()
    machines = Machines(LAB)
    base = image.base_image()
    repo = image.package_repository(base, required_packages())
    machines.use_repository(repo)
    machines.ensure_ssh_key()
    machines.ensure_bridge()
    started = time.monotonic()
    for lab_host in LAB.hosts:
        machines.start(lab_host, base)
    with ThreadPoolExecutor(len(LAB.hosts)) as pool:
        list(pool.map(machines.wait_until_ready, LAB.hosts))
    log(f"{len(LAB.hosts)} hosts ready {time.monotonic() - started:.1f}s after start")
    write_ssh_config()


def write_ssh_config() -> None:
    LAB.ssh_config.write_text("".join(
        f"Host {h.name}\n  HostName {h.address}\n  User root\n  IdentityFile {LAB.ssh_key}\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n\n"
        for h in LAB.hosts
    ))


def down() -> None:
    check_machine()
    machines = Machines(LAB)
    machines.remove_all()
    leftovers = machines.leftovers()
    if leftovers:
        raise LabError("lab down left these behind:\n  " + "\n  ".join(leftovers))
    log(f"lab {LAB.name} is down; nothing of it is left on this machine")


def status() -> None:
    machines = Machines(LAB)
    print(f"lab {LAB.name!r}: bridge {LAB.bridge} {LAB.bridge_address}/{LAB.subnet.prefixlen}")
    for lab_host in LAB.hosts:
        state = "running" if machines.is_running(lab_host) else "stopped"
        if state == "running" and machines.ssh_ready(lab_host):
            state += ", ssh ok"
        print(f"  {lab_host.name:6} {lab_host.group:9} {lab_host.address:15} {state}")
    print("  traffic sources on the bridge: "
          + ", ".join(f"{name} {address}" for name, address in LAB.client_addresses.items()))
    print(f"ssh in:     ssh -F {LAB.ssh_config} web1")
    print("deploy:     make deploy    (pyinfra, in lab/fleet: the lab's inventory and group_data)")
    print("verify:     make verify    (pytest tests/host --inventory inventories/lab.py)")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    parser.add_argument("action", choices=("up", "down", "status"))
    action = parser.parse_args().action
    try:
        {"up": up, "down": down, "status": status}[action]()
    except LabError as error:
        log(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
