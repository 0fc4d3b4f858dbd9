"""Reloads under load drop nobody: while a visitor keeps asking the site (through to PHP:
it has a cookie), a deploy that changes nginx's, PHP-FPM's and Monit's configuration
serves every request, and reloads each of them: their main processes stay the same."""

import threading
import time
from collections import Counter

import pytest

from lab.harness import traffic
from lab.harness.deploys import run_deploy
from lab.topology import LAB

# Operations, by the start of their name (a host with an ACME site changes nginx's in the one
# before certbot: "nginx | nginx configuration, before certbot asks the ACME CA").
CHANGED = ["nginx | nginx configuration", "PHP-FPM pools | PHP 8.2 FPM pools", "Monit | Monit configuration"]


def main_pids(host, units: list[str]) -> dict[str, str]:
    return {unit: host.check_output(f"systemctl show -p MainPID --value {unit}") for unit in units}


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_a_deploy_under_load_serves_every_request(pytestconfig, target, host, settings, changed_project):
    inventory = pytestconfig.getoption("inventory")
    site = next(iter(settings.sites.values()))
    units = ["nginx.service", "monit.service", *(service.unit for service in settings.services.values())]
    before = main_pids(host, units)
    answers, stop = [], threading.Event()

    def visit():  # one visitor at half the rate the edge allows a client
        while not stop.is_set():
            answers.append(traffic.request(LAB.client_addresses["visitor"], target.address, site.server_names[0],
                                           site.content_path, headers={"Cookie": "visitor=1"}, tls=bool(site.tls)))
            time.sleep(2 / site.limits.default.per_second)

    visitor = threading.Thread(target=visit)
    visitor.start()
    try:
        time.sleep(2)
        run = run_deploy(inventory, "--limit", target.name, cwd=changed_project)
        time.sleep(2)
    finally:
        stop.set()
        visitor.join()
    try:
        assert run.returncode == 0, run.output[-3000:]
        assert all(any(each.startswith(name) for each in run.changed_operations) for name in CHANGED), (
            run.changed_operations)
        print(f"{len(answers)} requests during the deploy: {Counter(answer.status for answer in answers)}")
        assert Counter(answer.status for answer in answers) == {200: len(answers)}
        assert all(site.content_expect in answer.body for answer in answers)
        assert main_pids(host, units) == before
    finally:
        assert run_deploy(inventory, "--limit", target.name).returncode == 0
