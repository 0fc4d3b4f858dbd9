"""How fast Monit reacts to the stand-in's faults on the lab, printed as figures (not a test).

    HOLDFAST_LAB=... .venv/bin/python -m bench.monit_reaction

On the first web host of the (running, deployed) lab: seconds from each fault to the
service running again and to the alert mail in the tiers' mailboxes on the relay, next to
the bound the host tests hold them to. Breaks the stand-in on purpose and heals it after.
"""

import testinfra

from holdfast import loading
from lab.harness.deploys import lab_inventory
from lab.harness.faults import DELIVERY, StandIn, begin_fault, escalation_deadline, runaway_deadline
from lab.topology import LAB


def main() -> None:
    inventory = loading.load(lab_inventory())
    web = LAB.group("web")[0].name
    settings = inventory[web]
    hosts = {name: testinfra.get_host(f"paramiko://{name}", ssh_config=str(LAB.ssh_config))
             for name in (web, settings.mail.relay)}
    standin = StandIn.of(hosts[web], settings)
    rules = settings.services[standin.name].supervision
    cycle = settings.monit.cycle
    rows = []

    for command, event, restart_bound in (("crash", "Does not exist", 2 * cycle),
                                          ("loop", "Resource limit matched", runaway_deadline(settings, rules))):
        fault, before = begin_fault(standin, settings, hosts[settings.mail.relay], command)
        try:
            rows.append((f"{command}: running again (new main PID)",
                         standin.restarted_after(before, fault.began, timeout=3 * restart_bound), restart_bound))
            mailed = fault.mail_after(fault.tier1, event, 3 * (restart_bound + DELIVERY))
            rows.append((f"{command}: '{event}' mail to tier 1", mailed, restart_bound + DELIVERY))
        finally:
            hosts[web].run("standin heal")

    fault, _ = begin_fault(standin, settings, hosts[settings.mail.relay], "crashloop")
    try:
        bound = escalation_deadline(settings, rules)
        mailed = fault.mail_after(fault.tier2, "Timeout", 3 * bound)
        rows.append(("crash loop: 'Timeout' mail to tier 2", mailed, bound))
    finally:
        hosts[web].run("standin heal")

    print(f"{web}, Monit cycle {cycle}s, {standin.name} start timeout {rules.start_timeout}s")
    width = max(len(label) for label, _, _ in rows)
    print(f"{'fault: what':{width}}  seconds  bound")
    for label, seconds, bound in rows:
        print(f"{label:{width}}  {'-' if seconds is None else f'{seconds:7.1f}':>7}  {bound:5.0f}")


if __name__ == "__main__":
    main()
