"""External monitors, hosted: UptimeRobot watches every site from outside, Healthchecks.io
waits for every host's heartbeat. Both are kept in step with the inventory from the same
deploy, the way a Terraform provider would, and only the monitors Holdfast created are
ever changed (see holdfast/providers/).

``deploy_hosted_monitors`` runs once per deploy, on the control machine. It reads both
providers while pyinfra prepares the deploy, the way facts are read, and prints the plan;
the writes are a ``python.call`` operation that pyinfra runs only when it executes. So
``--dry`` (which stops after preparing) prints the plan and writes nothing, and a deploy
without ``-y`` shows the plan before asking. pyinfra 3.10 offers deploy code no dry-run
flag to test (there is no ``config.DRY``), so this split is what keeps ``--dry`` write-free;
a wrong API key fails while preparing, before any host or monitor is touched. The
operation is added on one host, the first active one of the inventory: pyinfra runs
Python calls on the control machine whichever host carries them.

``deploy_heartbeat`` gives every host a systemd timer that pings the host's check.
"""

import os
import re

from pyinfra import host, inventory, logger, state
from pyinfra.api import deploy
from pyinfra.api.exceptions import OperationError
from pyinfra.operations import python

from holdfast import loading, providers, settings
from holdfast.providers import healthchecks
from holdfast.safe_config import UNIT_DIR, ConfigFile, validated_timer
from holdfast.templates import render

# The heartbeat needs curl, which the base capability installs.
PACKAGES = ()

UNIT = "holdfast-heartbeat"
CURL_CONFIG = "/etc/holdfast/heartbeat.curlrc"


@deploy("Hosted monitors")
def deploy_hosted_monitors() -> None:
    """Plan the hosted monitors against the inventory; write the plan when the deploy runs."""
    if host != carrier():
        return
    fleet = loading.load(inventory)
    hosted = hosted_settings(fleet)
    reconcile(fleet, hosted)
    if not os.environ.get(hosted.healthchecks.ping_key_env):
        logger.info(f"Heartbeats: skipped, {hosted.healthchecks.ping_key_env} is not set: "
                    "the hosts' heartbeat timers are left as they are")


@deploy("Heartbeat")
def deploy_heartbeat() -> None:
    """A systemd timer that pings this host's Healthchecks.io check every ``heartbeat.every``."""
    host_settings = loading.current()
    hosted = host_settings.hosted_monitors
    ping_key = os.environ.get(hosted.healthchecks.ping_key_env)
    if not ping_key:
        return  # said once, by deploy_hosted_monitors
    if not re.fullmatch(r"[\w-]+", ping_key):
        raise OperationError(
            f"{hosted.healthchecks.ping_key_env}: expected a Healthchecks.io ping key (letters, digits, '-', '_')"
        )
    files = [
        ConfigFile(f"{UNIT_DIR}/{UNIT}.service",
                   render(f"heartbeat{UNIT_DIR}/{UNIT}.service.j2", curl_config=CURL_CONFIG)),
        ConfigFile(f"{UNIT_DIR}/{UNIT}.timer",
                   render(f"heartbeat{UNIT_DIR}/{UNIT}.timer.j2", every=host_settings.heartbeat.every)),
        ConfigFile(CURL_CONFIG, render("heartbeat/etc/holdfast/heartbeat.curlrc.j2",
                                       url=healthchecks.ping_url(hosted, ping_key, host.name)), mode="600"),
    ]
    validated_timer(name="Heartbeat timer and its check's URL", config="heartbeat", unit=UNIT, files=files,
                    running_name="Heartbeat timer running")


def reconcile(fleet: dict[str, settings.HostSettings], hosted: settings.HostedMonitors) -> None:
    """Each provider's plan for the monitors of ``fleet``, printed; written (a ``python.call``)
    when the deploy runs. Only monitors with Holdfast's tag are changed or deleted."""
    for key in providers.PROVIDERS:
        plan = providers.plan(key, fleet, hosted)
        for line in plan.lines():
            logger.info(line)
        if plan.writes:
            python.call(name=f"{plan.provider.NAME}: {plan.summary()}", function=providers.apply, plan=plan)


def carrier():
    """The host that carries the once-per-deploy operation: the inventory's first active one."""
    return next(each for each in inventory if each in state.active_hosts and state.is_host_in_limit(each))


def hosted_settings(fleet: dict[str, settings.HostSettings]) -> settings.HostedMonitors:
    return loading.same_on_every_host(
        {name: host_settings.hosted_monitors for name, host_settings in fleet.items()}, "hosted_monitors"
    )
