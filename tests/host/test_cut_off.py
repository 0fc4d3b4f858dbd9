"""A deploy cut off anywhere (pyinfra SIGKILLed) leaves every checker accepting the live
files and the site answering; the next deploy converges and the one after changes nothing.

Two versions of group_data alternate (the repository's, and ``changed_project``'s): every
cut deploy changes nginx, PHP-FPM's pool, Monit, a slice, Prometheus and Alertmanager.
``make cut-off`` cuts deploys of every host (``--cut-every-host``) at each of CUTS; CI
cuts a deploy limited to one web host at each of CI_CUTS, a short form. ``make
cut-off-first`` brings a fresh lab up and cuts its first deploy at each of
FIRST_DEPLOY_CUTS, each run further on than the one before.
"""

import time
from pathlib import Path

import pytest

from holdfast.deploy_lock import ACQUIRE, RELEASE
from lab.harness import traffic
from lab.harness.cutoff import checker_failures, killed_deploy, wait_until_free
from lab.harness.deploys import run_deploy
from lab.topology import LAB

# (operation, seconds after it starts): where each deploy is cut, spread over the deploy
# of every host (the monitor host's swaps too).
CUTS = [
    (ACQUIRE, 0.0),
    ("Holdfast base | Install the validate-then-swap helper", 0.1),
    ("Resource slices | Slices and the units placed in them", 1.0),
    ("PHP-FPM pools | PHP 8.2 FPM pools", 0.3),
    ("PHP-FPM pools | PHP 8.2 FPM pools", 1.0),
    ("nginx | nginx configuration", 0.3),
    ("nginx | nginx configuration", 1.0),
    ("External monitor | Alertmanager routes along the escalation plan", 0.3),
    ("External monitor | Prometheus targets and alert rules", 0.3),
    ("Monit | Monit configuration", 0.1),
    ("Monit | Monit enabled and running", 0.1),
    (RELEASE, 0.0),
]
# CI's short form, on one web host: before anything, in the slices', nginx's and Monit's
# swaps (an even number: the last deploy is the deployed project's).
CI_CUTS = [CUTS[0], CUTS[2], CUTS[5], CUTS[9]]

# Where a first deploy is cut: each run gets further than the one before (installs cut too).
FIRST_DEPLOY_CUTS = [
    ("Holdfast base | Install Holdfast's shared tools", 1.0),
    ("Holdfast base | Install the validate-then-swap helper", 0.1),
    ("Resource slices | Slices and the units placed in them", 0.5),
    ("PHP-FPM pools | PHP 8.2 FPM pools", 0.5),
    ("nginx | Install nginx", 2.0),
    ("nginx | nginx configuration", 0.5),
    ("node_exporter | Install node_exporter", 2.0),
    ("Monit | Install Monit", 2.0),
    ("Monit | Monit configuration", 0.5),
    ("Monit | Monit enabled and running", 0.1),
]


def assert_site_answers(target, site, cut: str) -> None:
    answer = traffic.request(LAB.client_addresses["visitor"], target.address, site.server_names[0], site.content_path,
                             tls=bool(site.tls))
    assert answer.status == 200 and site.content_expect in answer.body, cut


def assert_converges(inventory: str, limit, project, cut: str) -> None:
    """The next deploy completes, and the one after changes nothing."""
    converged = run_deploy(inventory, *limit, cwd=project)
    assert converged.returncode == 0, f"{cut}:\n{converged.output[-3000:]}"
    again = run_deploy(inventory, *limit, cwd=project)
    assert again.returncode == 0 and again.changed_operations == [], (
        f"{cut}: {again.changed_operations}\n{again.output[-3000:]}"
    )


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_a_deploy_cut_anywhere_converges(pytestconfig, targets, target, settings, changed_project):
    inventory = pytestconfig.getoption("inventory")
    every_host = pytestconfig.getoption("cut_every_host")
    cut, limit = (list(targets.values()), ()) if every_host else ([target], ("--limit", target.name))
    projects = [changed_project, Path.cwd()]  # the copy, and the deployed project
    site = next(iter(settings.sites.values()))

    for index, (operation, delay) in enumerate(CUTS if every_host else CI_CUTS):
        project = projects[index % 2]
        started = time.monotonic()
        killed_deploy(inventory, *limit, operation=operation, delay=delay, cwd=project)
        for each in cut:
            wait_until_free(each)
            assert checker_failures(each) == {}, f"cut at {operation!r} +{delay}s"
        assert_site_answers(target, site, f"cut at {operation!r} +{delay}s")
        assert_converges(inventory, limit, project, f"cut at {operation!r} +{delay}s")
        print(f"cut {index + 1:2} at {operation} +{delay}s: checkers pass, site answers, converged, "
              f"then no change ({time.monotonic() - started:.0f}s)")
    assert project == Path.cwd()  # the hosts are left as the deployed project says


@pytest.mark.disruptive
@pytest.mark.hosts("web")
def test_a_first_deploy_cut_anywhere_converges(pytestconfig, target, settings):
    if not pytestconfig.getoption("first_deploy"):
        pytest.skip("needs a lab no deploy has reached yet: make cut-off-first")
    inventory, limit = pytestconfig.getoption("inventory"), ("--limit", target.name)
    for index, (operation, delay) in enumerate(FIRST_DEPLOY_CUTS):
        killed_deploy(inventory, *limit, operation=operation, delay=delay)
        wait_until_free(target)
        assert checker_failures(target, installed_only=True) == {}, f"first deploy cut at {operation!r} +{delay}s"
        print(f"first deploy, cut {index + 1:2} at {operation} +{delay}s: the installed services' checkers pass")
    assert_converges(inventory, limit, Path.cwd(), "first deploy, after its last cut")
    assert_site_answers(target, next(iter(settings.sites.values())), "first deploy, after its last cut")
