"""The single-point-of-failure audit: every rule passes on the sample data and fails on
a case made to break it, with a message naming what is wrong."""

from typing import get_args

import pytest

from holdfast import escalation, settings
from tests.conftest import REPO, edit


def findings(inventory="inventories/lab.py"):
    return escalation.audit(escalation.Estate.of(settings.read_inventory(inventory)))


def rules_failing(inventory="inventories/lab.py") -> set[str]:
    return {finding.rule for finding in findings(inventory)}


def test_every_rule_in_settings_is_defined():
    assert set(get_args(settings.AuditRule)) == set(escalation.RULES) | {"admin-keys"}


@pytest.mark.parametrize("inventory", ["inventories/lab.py", "inventories/prod.py"])
def test_the_sample_plan_passes_every_inventory_rule(inventory, monkeypatch):
    monkeypatch.chdir(REPO)
    assert findings(inventory) == []


def test_one_person_in_a_tier_fails_naming_the_tier(project_copy):
    edit(project_copy / "group_data/all.py", '"members": ["carol", "acme"]', '"members": ["acme"]')
    [finding] = [f for f in findings() if f.rule == "tier-members"]
    assert finding.subject == "tier tier2" and finding.severity == "error"


def test_a_channel_some_member_cannot_be_reached_on(project_copy):
    edit(project_copy / "group_data/all.py", '"chat": "@bob:example.com",', "")
    [finding] = [f for f in findings() if f.rule == "tier-channels"]
    assert finding.subject == "tier tier1" and "bob has no chat" in finding.message


def test_a_single_channel_type(project_copy):
    edit(project_copy / "group_data/all.py", '"channels": ["email", "chat"]', '"channels": ["email"]')
    edit(project_copy / "group_data/all.py", '"channels": ["email", "phone"]', '"channels": ["email"]')
    assert "channel-types" in rules_failing()


def test_no_outsider_in_the_last_tier(project_copy):
    edit(project_copy / "group_data/all.py", '"internal": False,', "")
    [finding] = [f for f in findings() if f.rule == "external-contact"]
    assert finding.subject == "tier tier2"


def test_monitor_hosted_only_on_a_watched_box(project_copy):
    (project_copy / "inventories/lab.py").write_text(
        "from lab.topology import LAB\n"
        "web = LAB.inventory_group('web')\n"
        "monitors = LAB.inventory_group('web')\n"
    )
    assert "monitor-placement" in rules_failing()


def test_mail_relay_on_a_watched_host(project_copy):
    edit(project_copy / "group_data/lab.py", '"relay": "mon1"', '"relay": "web1"')
    [finding] = [f for f in findings() if f.rule == "relay-placement"]
    assert finding.subject == "mail relay web1"


def test_a_secret_in_a_tracked_file(project_copy):
    planted = "password" + ' = "' + "hunter2" * 2 + '"\n'
    (project_copy / "group_data/web.py").write_text((project_copy / "group_data/web.py").read_text() + "_" + planted)
    [finding] = [f for f in findings() if f.rule == "tracked-secrets"]
    assert finding.subject.startswith("group_data/web.py:")


def test_environment_variable_names_are_not_secrets(project_copy):
    (project_copy / "group_data/web.py").write_text(
        (project_copy / "group_data/web.py").read_text() + '\n_token_env = {"api_key": "${HOLDFAST_API_KEY}"}\n'
    )
    assert "tracked-secrets" not in rules_failing()


@pytest.mark.parametrize(("keys", "failing"), [(1, True), (2, False)])
def test_admin_keys(keys, failing):
    assert bool(escalation.host_findings("web1", keys)) is failing


def test_errors_block_unless_every_host_acknowledges(monkeypatch):
    monkeypatch.chdir(REPO)
    lab = settings.load(settings.read_inventory("inventories/lab.py"))
    prod = settings.load(settings.read_inventory("inventories/prod.py"))
    finding = escalation.host_findings("web1", 1)[0]
    assert escalation.unacknowledged([finding], lab.values()) == []
    assert escalation.unacknowledged([finding], prod.values()) == [finding]
    with pytest.raises(escalation.AuditError, match="admin-keys"):
        escalation.report([finding], list(prod.values()))


def test_acknowledging_an_unknown_rule_is_a_settings_error(project_copy):
    edit(project_copy / "group_data/lab.py", '"admin-keys":', '"admin-key":')
    with pytest.raises(settings.SettingsError, match="group_data/lab.py: audit.acknowledged.admin-key"):
        settings.load(settings.read_inventory("inventories/lab.py"))


def test_an_acknowledgement_needs_a_reason(project_copy):
    edit(project_copy / "group_data/lab.py", '"lab hosts are throwaway; they are reached only with the key the lab generates"', '"ok"')
    with pytest.raises(settings.SettingsError, match="audit.acknowledged.admin-keys = 'ok'"):
        settings.load(settings.read_inventory("inventories/lab.py"))
