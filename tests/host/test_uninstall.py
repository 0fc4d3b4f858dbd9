"""The way back (`make uninstall HOST=...`, holdfast/uninstall.py), on the last web host of
the lab, which was brought up with Debian's own nginx and Monit and noted its state before
Holdfast's first deploy (lab/before.py): after the uninstall, ``nginx -T``, the unit files and
the running services are what they were, nginx still answers, mysqld_exporter's database user
is gone, the host's hosted check is deleted and the others kept; a second uninstall changes
nothing. The host is deployed again at the end.

Lab only: the note of the state before Holdfast is the lab's.
"""

import pytest

from holdfast import monitoring
from lab.before import NOTE_DIR, NOTED
from lab.harness.deploys import run_deploy
from lab.harness.traffic import request
from lab.topology import LAB
from tests.host.conftest import names

pytestmark = pytest.mark.disruptive


def noted(host) -> dict[str, str]:
    """The host's state now, as lab/before.py noted it before Holdfast."""
    return {name: host.check_output(command) for name, command in NOTED.items()}


def test_uninstall_puts_the_host_back_as_it_was_before_holdfast(pytestconfig, targets, doubles, keys):
    web = [target for target in targets.values() if "web" in target.groups][-1]
    host = web.testinfra
    assert host.file(f"{NOTE_DIR}/nginx-T").exists, (
        "the lab notes the state before Holdfast's first deploy (lab/before.py): bring the lab up again")
    before = {name: host.file(f"{NOTE_DIR}/{name}").content_string.rstrip("\n") for name in NOTED}
    inventory = pytestconfig.getoption("inventory")
    project = pytestconfig.holdfast_project
    try:
        present = run_deploy(inventory, "--limit", web.name, cwd=project)  # its hosted check exists
        assert present.returncode == 0, present.output[-3000:]
        assert web.name in names(doubles)["healthchecks"]
        uninstalled = run_deploy(inventory, "--limit", web.name, deploy_file="uninstall.py", cwd=project)
        assert uninstalled.returncode == 0, uninstalled.output[-3000:]
        after = noted(host)
        exporter_users = host.run(f"mysql -N -e \"SELECT COUNT(*) FROM mysql.user WHERE user = "
                                  f"'{monitoring.MYSQLD_EXPORTER_USER}'\"").stdout.strip()
        answer = request(LAB.client_addresses["visitor"], web.address, "localhost", "/", tls=False)
        checks = names(doubles)["healthchecks"]
        again = run_deploy(inventory, "--limit", web.name, deploy_file="uninstall.py", cwd=project)
    finally:
        restored = run_deploy(inventory, "--limit", web.name, cwd=project)
    assert restored.returncode == 0, restored.output[-3000:]
    assert after == before
    assert answer.status == 200 and "nginx" in answer.body
    if monitoring.has_mysqld(web.settings):
        assert exporter_users == "0"  # mysqld_exporter's database user went with it
    assert checks == sorted(name for name in targets if name != web.name)
    assert again.returncode == 0 and again.changed_operations == [], again.output[-3000:]
