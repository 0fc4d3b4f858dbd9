"""The runbook is rendered from the plan and the inventory, and says everything an alert
can say."""

import re

import pytest

from holdfast import loading, monitoring, runbook
from holdfast.audit import Estate
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


def test_every_alert_carries_severity_description_and_its_runbook_section(production):
    fleet = loading.load(production)
    monitor = fleet[production.get_group("monitors")[0].name]
    rules = "".join(file.content for file in monitoring.prometheus_files(monitor, monitoring.watched_hosts(production)))
    text = runbook.render_runbook(production)
    alerts = re.findall(r'- alert: (\w+)\n.*?severity: (\w+)\n.*?description: "([^\n]+)"\n\s+runbook_url: "([^\n]+)"', rules, re.S)
    # Monit sends its own; the production sample replicates no database and copies nothing
    # (the lab's rules have those: tests/unit/test_replication.py, test_copies.py).
    replicas = {"DatabaseReplicaBroken", "DatabaseReplicaLagging", "FilesCopyStale"}
    assert {name for name, *_ in alerts} == set(monitoring.ALERTS) - {monitoring.MONIT_EVENT_ALERT} - replicas
    for name, severity, description, url in alerts:
        assert url == f"{monitor.monitoring.runbook_url}#{name.lower()}"
        assert f"#### {name}\n\n*{severity}*: {description}" in text


def test_every_contact_and_channel_is_in_the_runbook(production):
    text = runbook.render_runbook(production)
    plan = loading.load(production)["web1.example.com"].escalation
    for contact in plan.contacts.values():
        assert contact.email in text and (contact.phone or "") in text


def test_each_host_s_row_names_its_groups_and_what_runs_there(production):
    estate = Estate.of(production)
    web = estate.group("web")[0]
    service, declared = next(iter(estate.settings[web].services.items()))
    estate.settings[web] = estate.settings[web].model_copy(update={"services": {
        service: declared.model_copy(update={"slice": None})}})
    estate.groups["all"] = list(estate.settings)  # an inventory may name the group every host is in
    rows = {row["name"]: row for row in runbook._hosts(estate)}
    assert rows[web]["groups"] == ["web", "prod"]
    assert rows[web]["runs"] == ["Monit", "nginx (limits, fallback page)", "node_exporter",
                                 f"{service} ({declared.unit}, slice none)"]
    monitor = estate.group("monitors")[0]
    assert rows[monitor]["runs"] == ["Monit", "Prometheus", "blackbox exporter", "Alertmanager"]
