"""The primary's directories copied to the other web hosts: the settings' checks, the files
rendered from the lab's group_data for each role, and the monitor's alert (promtool)."""

import pytest

from holdfast import copies, firewall, monitoring
from lab.topology import LAB
from tests.conftest import append, fleet_settings, settings_error
from tests.unit.test_replication import lab_rules_file, promtool, series


@pytest.fixture(scope="module")
def lab():
    return fleet_settings()


def files_of(host_name, host_settings) -> dict[str, str]:
    return {file.path: file.content for file in copies.config_files(host_name, host_settings)}


@pytest.mark.parametrize(("line", "expected"), [
    ("failover['copied'] = ['uploads']",
     "group_data/lab.py: failover.copied[0] = 'uploads': expected an absolute path such as '/srv/www/shop'"),
    ("failover['copied'] = ['/srv/a; rm -rf /']", "failover.copied[0] = '/srv/a; rm -rf /': expected an absolute path"),
    ("failover['copied'] = ['/srv/a', '/srv/a']", "failover.copied = ['/srv/a', '/srv/a']: listed more than once: /srv/a"),
    ("failover['copy_every'] = '2s'", "failover.copy_every = 2: expected greater than or equal to 5"),
], ids=["relative", "shell", "twice", "too-often"])
def test_bad_copies_are_refused_naming_file_key_and_form(project_copy, line, expected):
    append(project_copy / "group_data/lab.py", line)
    assert expected in settings_error()


def test_the_primary_serves_them_read_only_to_its_peers_alone(lab):
    (conf,) = files_of("web1", lab["web1"]).values()
    web2 = LAB.group("web")[1].address
    assert "read only = yes\n" in conf and "uid = nobody\n" in conf and "use chroot = yes\n" in conf
    assert f"hosts allow = 127.0.0.1 {web2}\nhosts deny = *\n" in conf
    assert "[copied-0]\n    path = /usr/share/wordpress/wp-content/uploads\n" in conf


def test_another_web_host_copies_them_on_a_timer_and_says_when(lab):
    files = files_of("web2", lab["web2"])
    script = files[copies.SCRIPT]
    web1 = LAB.group("web")[0].address
    assert (f"rsync -a --delete --timeout=30 rsync://{web1}/copied-0/ /usr/share/wordpress/wp-content/uploads/\n"
            in script)
    assert f"> {copies.TEXTFILE}.tmp\nmv {copies.TEXTFILE}.tmp {copies.TEXTFILE}\n" in script
    assert "OnUnitActiveSec=5s" in files[f"/etc/systemd/system/{copies.UNIT}.timer"]
    assert copies.RSYNCD_CONFIG not in files


def test_the_web_hosts_let_each_other_reach_rsync_and_nobody_else(lab):
    opened = {opening.why: opening for opening in firewall.openings(lab["web1"], {})}
    rsync = opened["rsync's copies between the web hosts"]
    assert (rsync.protocol, rsync.ports, rsync.sources) == ("tcp", (873,), tuple(web.address for web in LAB.group("web")))


def test_a_copy_three_times_its_interval_old_is_told(tmp_path):
    directory = lab_rules_file(tmp_path)
    labels = {"job": "nodes", "host": "web2", "instance": "web2:9100"}
    summary = "web2's copy of the primary's directories is 20s old: over 15s."
    # Copied at 0 s, never again; evaluated every 5 s.
    promtool(directory, [series("holdfast_copy_success_timestamp_seconds", labels, "0x10")], [
        {"eval_time": "15s", "alertname": "FilesCopyStale", "exp_alerts": []},
        {"eval_time": "20s", "alertname": "FilesCopyStale", "exp_alerts": [{
            "exp_labels": {**labels, "severity": "ticket", "tier": "tier1"},
            "exp_annotations": {"summary": summary, "description": monitoring.ALERTS["FilesCopyStale"].description,
                                "runbook_url": "docs/RUNBOOK.md#filescopystale"}}]},
    ])
