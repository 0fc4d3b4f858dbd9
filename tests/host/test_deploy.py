"""The deploy as a whole: a second run changes nothing; bad group_data, or a plan that
fails the single-point-of-failure audit, touches no host."""

import pytest

from lab.harness.deploys import fingerprints, run_deploy
from tests.conftest import edit


@pytest.mark.disruptive
def test_second_deploy_changes_nothing(pytestconfig):
    run = run_deploy(pytestconfig.getoption("inventory"))
    assert run.returncode == 0, run.output[-3000:]
    assert run.changed_operations == [], run.output[-3000:]


# The lab's phone provider (group_data/lab.py): without it, tier 2's phone has none.
PHONE_PROVIDER = ('"phone": {"provider": "pagerduty", "url": f"http://{LAB.bridge_address}:8473/v2/enqueue",\n'
                  '                  "secret_env": "HOLDFAST_LAB_PAGERDUTY_KEY"},')


@pytest.mark.disruptive
@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("group_data/web.py", "services = {", "servces = {", "group_data/web.py: servces: unknown key; did you mean 'services'?"),
        ("group_data/all.py", '"escalate_after": "15m"', '"escalate_after": "fifteen"',
         "group_data/all.py: escalation.tiers[1].escalate_after = 'fifteen': expected a duration"),
        ("group_data/all.py", '"members": ["carol", "acme"]', '"members": ["acme"]',
         "error: [tier-members] tier tier2: only acme"),
        ("group_data/web.py", '"default": {"rate": "2r/s"', '"default": {"rate": "ten per second"',
         "group_data/web.py: sites.shop.limits.default.rate = 'ten per second': expected a request rate"),
        ("group_data/lab.py", PHONE_PROVIDER, "",
         "group_data/all.py: escalation.tiers[1].channels = ['email', 'phone']: tier tier2 declares phone, but "
         "escalation.providers has no 'phone'"),
    ],
    ids=["typo-key", "string-for-number", "one-person-tier", "malformed-rate", "channel-without-provider"],
)
def test_bad_group_data_fails_before_any_host_is_touched(pytestconfig, targets, project_copy, file, old, new, expected):
    before = fingerprints(targets)
    edit(project_copy / file, old, new)
    run = run_deploy(pytestconfig.getoption("inventory"), cwd=project_copy)
    assert run.returncode != 0
    assert expected in run.output
    assert "nothing was changed on any host" in run.output
    assert fingerprints(targets) == before
