"""The runbook is rendered from the plan and the inventory, and says everything an alert
can say."""

import re

import pytest

from holdfast import loading, monitoring, runbook
from holdfast.inventory import read_inventory
from tests.conftest import FLEET, REPO


@pytest.fixture
def production(monkeypatch):
    monkeypatch.chdir(FLEET)
    return read_inventory(runbook.DEFAULT_INVENTORY)


def test_committed_runbook_is_a_fresh_rendering(monkeypatch):
    """Whatever data the repository holds (the sample, or a user's own fleet)."""
    monkeypatch.chdir(REPO)
    rendered = runbook.render_runbook(read_inventory(runbook.DEFAULT_INVENTORY))
    assert (REPO / "docs/RUNBOOK.md").read_text() == rendered, (
        "docs/RUNBOOK.md is stale: run `make runbook`"
    )


def test_every_prometheus_alert_is_explained(production):
    fleet = loading.load(production)
    monitor = fleet[production.get_group("monitors")[0].name]
    rules = "".join(file.content for file in monitoring.prometheus_files(monitor, monitoring.watched_hosts(production)))
    built_in = set(re.findall(r"- alert: (\w+)", rules)) - {rule.name for rule in monitor.monitoring.extra_rules}
    assert built_in == set(runbook.PROMETHEUS_ALERTS)


def test_every_contact_and_channel_is_in_the_runbook(production):
    text = runbook.render_runbook(production)
    plan = loading.load(production)["web1.example.com"].escalation
    for contact in plan.contacts.values():
        assert contact.email in text and (contact.phone or "") in text
