"""The site's failover time on the lab, printed as figures and checked against the goals
(not a test).

    HOLDFAST_LAB=... .venv/bin/python -m bench.failover

On the running, deployed lab: the primary web host dies without a word (cut off the lab's
bridge) while visitors keep coming to the site's service address; printed are the seconds
until the standby answers there, the share of the visitors served over the run, and who
answered once the primary was back. Then it waits for the primary to take its address back
(preempt_delay), as the host tests leave the lab.

Before that, while the visitor loop comes to the address, the standby's lag behind the
primary: its database's (the primary writes a heartbeat, a row with the time, ten times a
second; the standby reads how old the row it has is: the lab's hosts share one clock), and
its copy of the primary's directories (a file written on the primary, waited for there).
After the death, a log-in at the address (on the standby) must get the read-only page.
"""

import secrets
import statistics
import sys
import time

import testinfra

from holdfast import copies, loading, nginx, replication
from lab.harness.deploys import lab_inventory
from lab.harness.failover import VisitorLoop, primary_death, visitor_pace, wait_for_holder
from lab.harness.probes import wait_for
from lab.harness.traffic import request
from lab.topology import LAB

# The goals of issue 16.
TAKEOVER_GOAL = 5.0
SERVED_GOAL = 0.99
LAG_SECONDS = 20  # how long the replica's lag is sampled
HEARTBEAT = ("CREATE DATABASE IF NOT EXISTS holdfast_bench; CREATE TABLE IF NOT EXISTS holdfast_bench.beat "
             "(id INT PRIMARY KEY, at TIMESTAMP(6))")


def replica_lag(primary, standby, seconds: float) -> list[float]:
    """The standby database's lag behind the primary's, sampled twice a second (seconds)."""
    primary.check_output(f"mariadb -e '{HEARTBEAT}'")
    beats = int(seconds * 10) + 20
    primary.check_output(f"systemd-run --quiet --unit=holdfast-bench-beat sh -c 'for i in $(seq {beats}); do "
                         "mariadb -e \"REPLACE INTO holdfast_bench.beat VALUES (1, NOW(6))\"; sleep 0.1; done'")
    time.sleep(2)
    lags = []
    for _ in range(int(seconds * 2)):
        found = standby.run("mariadb -N -e 'SELECT TIMESTAMPDIFF(MICROSECOND, at, NOW(6)) FROM holdfast_bench.beat'")
        if found.rc == 0 and found.stdout.strip():
            lags.append(int(found.stdout) / 1e6)
        time.sleep(0.5)
    primary.run("systemctl stop holdfast-bench-beat 2>/dev/null")
    primary.check_output("mariadb -e 'DROP DATABASE holdfast_bench'")
    return lags


def copy_lag(primary, standby, directory: str, timeout: float) -> float | None:
    """Seconds until a file written on the primary is on the standby (None: not within ``timeout``)."""
    name = f"{directory}/holdfast-bench-{secrets.token_hex(4)}"
    primary.check_output(f"echo copied > {name}")
    written = time.monotonic()
    try:
        if wait_for(lambda: standby.file(name).exists, timeout=timeout, interval=0.2):
            return round(time.monotonic() - written, 1)
        return None
    finally:
        primary.check_output(f"rm -f {name}")


def standby_lags(fleet, primary: str, standby: str, load: VisitorLoop) -> list[tuple]:
    """The rows of the standby's lags, measured while ``load`` runs."""
    hosts = {name: testinfra.get_host(f"paramiko://{name}", ssh_config=str(LAB.ssh_config))
             for name in (primary, standby)}
    rows = []
    with load:
        if replication.is_replica(standby, fleet[standby]):
            lags = replica_lag(hosts[primary], hosts[standby], LAG_SECONDS)
            limit = fleet[standby].failover.database.lag_limit
            worst = max(lags, default=None)
            rows.append((f"{standby}'s database behind (s, median / max of {len(lags)})",
                         f"{statistics.median(lags):.2f} / {worst:.2f}" if lags else "-", f"< {limit}",
                         worst is not None and worst < limit))
        if copies.active(fleet[standby]):
            every = fleet[standby].failover.copy_every
            lag = copy_lag(hosts[primary], hosts[standby], fleet[standby].failover.copied[0], 3 * every)
            rows.append((f"{standby}'s copy of a new file (s)", lag if lag is not None else "-", f"<= {every}",
                         lag is not None and lag <= every + 2))
    return rows


def main() -> int:
    fleet = loading.load(lab_inventory())
    policy = fleet[LAB.group("web")[0].name].failover
    if not (policy.enabled and policy.sites):
        print("failover is off in this lab (it needs two web hosts)")
        return 1
    primary, standby = policy.ranked[:2]
    site, service = next(iter(policy.sites.items()))
    server_name = fleet[primary].sites[site].server_names[0]
    tls = bool(fleet[primary].sites[site].tls)
    host = testinfra.get_host(f"paramiko://{primary}", ssh_config=str(LAB.ssh_config))
    if wait_for_holder(service.address, server_name, primary, timeout=policy.preempt_delay + 20, tls=tls) is None:
        print(f"{service.address} is not on {primary}: is the lab deployed?")
        return 1
    pace = visitor_pace(fleet[primary].sites[site])
    rows = standby_lags(fleet, primary, standby, VisitorLoop(service.address, server_name, LAG_SECONDS + 10, tls, pace))
    death = primary_death(host, standby, service.address, server_name, tls=tls, per_second=pace)
    flapped = set(death.holders_after_return) != {standby}
    rows += [
        (f"takeover by {standby} (s)", death.takeover, f"<= {TAKEOVER_GOAL:g}",
         death.takeover is not None and death.takeover <= TAKEOVER_GOAL),
        (f"visitors served ({death.requests} requests)", f"{death.served:.1%}", f">= {SERVED_GOAL:.0%}",
         death.served >= SERVED_GOAL),
        (f"{primary} back: answers stay on {standby}", "yes" if not flapped else "no (flapped)", "yes", not flapped),
    ]
    if replication.is_replica(standby, fleet[standby]):  # the address still on the standby, writes wait
        log_in = request(LAB.client_addresses["office"], service.address, server_name, "/wp-login.php", tls=tls)
        read_only = (log_in.status, nginx.READ_ONLY_TITLE in log_in.body) == (503, True)
        rows.append((f"a log-in at the address on {standby}", "read-only page" if read_only else log_in.status,
                     "read-only page", read_only))
    width = max(len(row[0]) for row in rows)
    for name, value, goal, met in rows:
        print(f"{name:<{width}}  {value!s:>10}  goal {goal:<8} {'met' if met else 'MISSED'}")
    returned = wait_for_holder(service.address, server_name, primary, timeout=policy.preempt_delay + 20, tls=tls)
    print(f"{primary} took {service.address} back {returned} s later (preempt_delay {policy.preempt_delay} s)")
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
