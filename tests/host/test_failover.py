"""Failover on the lab (holdfast/failover.py): the site's service address answers from the
primary, moves to the standby within seconds when the primary's nginx fails, and does not
flap back while the primary recovers: it returns once, after preempt_delay. On the standby,
whose database is a replica, the log-in gets the read-only page. The primary's
death mid-crowd (the standby within 5 s, the visitors served, no flap back, the alert mail)
is the drill's scenario web-down (tests/host/test_drill.py).

Each test leaves the address on the primary, every host healthy and supervised."""

import time

import pytest

from holdfast import nginx, replication
from lab.harness.failover import served_by, wait_for_holder
from lab.harness.faults import monit_off
from lab.harness.traffic import request
from lab.topology import LAB

pytestmark = pytest.mark.disruptive

# The goal: the standby answers within 5 s.
TAKEOVER = 5


@pytest.fixture(scope="module")
def failover_of(targets):
    """(primary, standby, address, server name, preempt_delay, tls): the peers ranked by priority."""
    web = [target for target in targets.values() if "web" in target.groups]
    if len(web) < 2:
        pytest.skip("failover needs two web hosts")
    policy = web[0].settings.failover
    primary, standby = policy.ranked[:2]
    [(site, service)] = policy.sites.items()
    server_name = web[0].settings.sites[site].server_names[0]
    return (targets[primary], targets[standby], service.address, server_name, policy.preempt_delay,
            bool(web[0].settings.sites[site].tls))


def back_on_the_primary(primary, address, server_name, preempt_delay, tls):
    """Wait for the primary to take its address back by itself (preempt_delay after it is
    healthy again): the state every test starts from and leaves."""
    assert wait_for_holder(address, server_name, primary.name, timeout=preempt_delay + 20, tls=tls) is not None, (
        f"{address} did not return to {primary.name} within preempt_delay ({preempt_delay}s) + 20 s"
    )


@pytest.fixture
def on_the_primary(failover_of):
    primary, _, address, server_name, preempt_delay, tls = failover_of
    back_on_the_primary(primary, address, server_name, preempt_delay, tls)
    yield
    back_on_the_primary(primary, address, server_name, preempt_delay, tls)


def test_the_service_address_answers_from_the_primary(failover_of, on_the_primary):
    primary, standby, address, server_name, _, tls = failover_of
    assert served_by(address, server_name, tls=tls) == primary.name
    holders = {name: target.testinfra.check_output("ip -4 -br addr show dev host0") for name, target in
               ((primary.name, primary), (standby.name, standby))}
    assert f" {address}/" in holders[primary.name] and f" {address}/" not in holders[standby.name]


def test_nginx_killed_on_the_holder_moves_the_address(failover_of, on_the_primary):
    primary, standby, address, server_name, preempt_delay, tls = failover_of
    rules = primary.settings.failover
    host = primary.testinfra
    with monit_off(host, "nginx"):
        host.check_output("systemctl kill --signal=KILL nginx.service")
        try:
            # fall failed checks, then one advert interval for the standby to take over.
            moved = wait_for_holder(address, server_name, standby.name,
                                    timeout=(rules.fall + 1) * rules.check_interval + TAKEOVER, tls=tls)
        finally:
            host.check_output("systemctl start nginx.service")
    assert moved is not None
    healed = time.monotonic()
    # On the standby, whose database is a replica, the log-in gets the read-only page.
    log_in = request(LAB.client_addresses["office"], address, server_name, "/wp-login.php", tls=tls)
    if replication.is_replica(standby.name, standby.settings):
        assert (log_in.status, nginx.READ_ONLY_TITLE in log_in.body) == (503, True)
    # Healed: the primary passes its checks again, yet waits out preempt_delay.
    time.sleep((rules.rise + 2) * rules.check_interval)
    assert served_by(address, server_name, tls=tls) == standby.name
    back_on_the_primary(primary, address, server_name, preempt_delay, tls)
    assert time.monotonic() - healed >= preempt_delay - 5
