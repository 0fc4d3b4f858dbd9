"""`holdfast status` on the lab: it reads the whole fleet, says the deployed files are as
Holdfast renders them, and shows a fault while it lasts (nginx stopped on a web host with
Monit held off it: Alertmanager's SiteDown for that host, Monit's check not monitored)."""

import pytest

from lab.harness.deploys import read_status
from lab.harness.faults import unmonitor
from lab.harness.probes import wait_for


@pytest.fixture(scope="module")
def inventory(pytestconfig) -> str:
    return pytestconfig.getoption("inventory")


def test_status_reads_every_host_and_no_drift_after_a_deploy(inventory, targets):
    found = read_status(inventory)
    assert {h["name"]: h["error"] for h in found["hosts"]} == {name: "" for name in targets}
    drift = {h["name"]: (h["drift"]["differs"], h["drift"]["missing"]) for h in found["hosts"]}
    assert drift == {name: ([], []) for name in targets}
    assert all(h["drift"]["compared"] > 0 and h["monit"] for h in found["hosts"])


def test_status_names_the_one_holder_of_each_service_address(inventory, targets):
    """The holder status names is the web host that has the address, and no other has it."""
    found = read_status(inventory)
    addresses = {site: str(each.address) for t in targets.values() if t.settings.failover.enabled
                 for site, each in t.settings.failover.sites.items()}
    assert addresses, "the lab's fleet has service addresses"
    holding = {site: [h["name"] for h in found["hosts"] if h["holds"].get(site) == address]
               for site, address in addresses.items()}
    for site, address in addresses.items():
        assert len(holding[site]) == 1, found["service_addresses"]
        assert f"{site} {address}: held by {holding[site][0]}" in found["service_addresses"]
        for name, target in targets.items():
            owns = target.testinfra.run(f"ip -o addr show | grep -qF ' {address}/'").rc == 0
            assert owns == (name == holding[site][0]), f"{name} {'has' if owns else 'lacks'} {address}"


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_status_shows_a_stopped_nginx(inventory, host, target):
    def site_down():
        found = read_status(inventory)
        return found if any(a["name"] == "SiteDown" and a["host"] == target.name for a in found["alerts"]) else None

    assert not site_down(), "SiteDown before the fault"
    unmonitor(host, "nginx")
    host.check_output("systemctl stop nginx")
    try:
        found = wait_for(site_down, timeout=90, interval=3)
    finally:
        host.check_output("systemctl start nginx && monit monitor nginx")
    assert found, "no SiteDown alert for the host in status within 90 s"
    (web,) = [h for h in found["hosts"] if h["name"] == target.name]
    assert web["monit"]["nginx"] == "Not monitored"

