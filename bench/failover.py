"""The site's failover time on the lab, printed as figures and checked against the goals
(not a test).

    HOLDFAST_LAB=... .venv/bin/python -m bench.failover

On the running, deployed lab: the primary web host dies without a word (cut off the lab's
bridge) while visitors keep coming to the site's service address; printed are the seconds
until the standby answers there, the share of the visitors served over the run, and who
answered once the primary was back. Then it waits for the primary to take its address back
(preempt_delay), as the host tests leave the lab.
"""

import sys

import testinfra

from holdfast import loading
from lab.harness.deploys import lab_inventory
from lab.harness.failover import primary_death, visitor_pace, wait_for_holder
from lab.topology import LAB

# The goals of issue 16.
TAKEOVER_GOAL = 5.0
SERVED_GOAL = 0.99


def main() -> int:
    fleet = loading.load(lab_inventory())
    policy = fleet[LAB.group("web")[0].name].failover
    if not (policy.enabled and policy.sites):
        print("failover is off in this lab (it needs two web hosts)")
        return 1
    primary, standby = sorted(policy.peers, key=lambda name: -policy.peers[name].priority)[:2]
    site, service = next(iter(policy.sites.items()))
    server_name = fleet[primary].sites[site].server_names[0]
    tls = bool(fleet[primary].sites[site].tls)
    host = testinfra.get_host(f"paramiko://{primary}", ssh_config=str(LAB.ssh_config))
    if wait_for_holder(service.address, server_name, primary, timeout=policy.preempt_delay + 20, tls=tls) is None:
        print(f"{service.address} is not on {primary}: is the lab deployed?")
        return 1
    death = primary_death(host, standby, service.address, server_name, tls=tls,
                          per_second=visitor_pace(fleet[primary].sites[site]))
    flapped = set(death.holders_after_return) != {standby}
    rows = [
        (f"takeover by {standby} (s)", death.takeover, f"<= {TAKEOVER_GOAL:g}",
         death.takeover is not None and death.takeover <= TAKEOVER_GOAL),
        (f"visitors served ({death.requests} requests)", f"{death.served:.1%}", f">= {SERVED_GOAL:.0%}",
         death.served >= SERVED_GOAL),
        (f"{primary} back: answers stay on {standby}", "yes" if not flapped else "no (flapped)", "yes", not flapped),
    ]
    width = max(len(row[0]) for row in rows)
    for name, value, goal, met in rows:
        print(f"{name:<{width}}  {value!s:>10}  goal {goal:<8} {'met' if met else 'MISSED'}")
    returned = wait_for_holder(service.address, server_name, primary, timeout=policy.preempt_delay + 20, tls=tls)
    print(f"{primary} took {service.address} back {returned} s later (preempt_delay {policy.preempt_delay} s)")
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
