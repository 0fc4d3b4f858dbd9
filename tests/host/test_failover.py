"""Failover on the lab (holdfast/failover.py): the site's service address answers from the
primary, moves to the standby within seconds when the primary dies or its nginx fails, and
does not flap back while the primary recovers: it returns once, after preempt_delay.

Each test leaves the address on the primary, every host healthy and supervised."""

import time

import pytest

from lab.harness.failover import primary_death, served_by, visitor_pace, wait_for_holder
from lab.harness.faults import monit_off
from lab.harness.probes import Mailboxes, wait_for

pytestmark = pytest.mark.disruptive

# The goals: the standby answers within 5 s; 99 % of the visitors are served; the
# alert mail arrives within 60 s.
TAKEOVER = 5
SERVED = 0.99
ALERTED = 60


@pytest.fixture(scope="module")
def failover_of(targets):
    """(primary, standby, address, server name, preempt_delay, tls): the peers ranked by priority."""
    web = [target for target in targets.values() if "web" in target.groups]
    if len(web) < 2:
        pytest.skip("failover needs two web hosts")
    policy = web[0].settings.failover
    primary, standby = sorted(policy.peers, key=lambda name: -policy.peers[name].priority)[:2]
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


def test_primary_dies_standby_answers_within_5s_and_it_does_not_flap_back(failover_of, on_the_primary, targets):
    primary, standby, address, server_name, preempt_delay, tls = failover_of
    assert preempt_delay > 20, "the test needs the primary back well within preempt_delay"
    plan, relay = primary.settings.escalation, primary.settings.mail.relay
    tier1 = Mailboxes(targets[relay].testinfra, plan.tier_emails(plan.tiers[0].name))
    [site] = primary.settings.failover.sites
    death = primary_death(primary.testinfra, standby.name, address, server_name, tls=tls,
                          per_second=visitor_pace(primary.settings.sites[site]))
    subject = f"[FIRING] ServiceAddressMoved on {address} ({plan.tiers[0].name})"
    mailed = wait_for(lambda: not tier1.waiting_for(subject), timeout=death.cut + ALERTED - time.monotonic(),
                      interval=2)
    print(f"takeover {death.takeover} s, {death.served:.1%} of {death.requests} requests served, alert mail "
          f"{round(time.monotonic() - death.cut, 1) if mailed else None} s after the cut")
    assert death.takeover is not None and death.takeover <= TAKEOVER
    assert death.served >= SERVED, f"not served (s after the cut, status, who): {death.failed}"
    assert set(death.holders_after_return) == {standby.name}, "the address flapped back while the primary recovered"
    assert mailed, f"no {subject!r} within {ALERTED} s of the primary's death"


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
    # Healed: the primary passes its checks again, yet waits out preempt_delay.
    time.sleep((rules.rise + 2) * rules.check_interval)
    assert served_by(address, server_name, tls=tls) == standby.name
    back_on_the_primary(primary, address, server_name, preempt_delay, tls)
    assert time.monotonic() - healed >= preempt_delay - 5
