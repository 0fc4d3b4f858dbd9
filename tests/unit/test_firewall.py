"""The host firewall without hosts: group_data validation (both ways), the policy each
host gets, and the ruleset rendered from it."""

import re

import pytest

from holdfast import firewall, settings
from holdfast.monitoring import MONIT_RELAY_PORT
from tests.conftest import append, fleet_settings, load_settings, settings_error

MONITORS = {"mon1": ["10.123.0.10"]}


@pytest.fixture(scope="module")
def lab_settings() -> dict[str, settings.HostSettings]:
    return fleet_settings()


def ruleset(host_settings: settings.HostSettings, monitors=MONITORS) -> str:
    [file] = firewall.config_files(host_settings, monitors)
    assert file.path == firewall.RULESET
    return file.content


def rules(host_settings: settings.HostSettings, monitors=MONITORS) -> list[str]:
    """The accept and drop rules of the input chain, in order."""
    return [line.strip() for line in ruleset(host_settings, monitors).splitlines()
            if " counter " in line or line.strip().startswith("counter ")]


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("firewall['allow'][0]['port'] = 70000", "firewall.allow[0].port = 70000: expected less than or equal to 65535"),
        ("firewall['allow'][0]['port'] = 0", "firewall.allow[0].port = 0: expected greater than or equal to 1"),
        ("firewall['ssh_from'] = ['10.0.0.300']",
         "firewall.ssh_from[0] = '10.0.0.300': expected an IP address or network"),
        ("firewall['allow'][0]['sources'] = ['mon1']",
         "firewall.allow[0].sources[0] = 'mon1': expected an IP address or network"),
        ("firewall['ssh_from'] = []",
         "firewall.ssh_from = []: expected at least one network: a policy without ssh locks everyone out"),
        ("firewall['allow'][0]['sources'] = []", "firewall.allow[0].sources = []: expected at least one entry"),
        ("firewall['scrape_ports'] = [9100, 443]",
         "firewall.scrape_ports[1] = 443: expected a port open to the monitors hosts only, not a site's port"),
        ("firewall['scrape_ports'] = [22]",
         "firewall.scrape_ports[0] = 22: expected a port open to the monitors hosts only, not ssh's port"),
        ("firewall['allow'][0]['port'] = 9100",
         "firewall.allow[0].port = 9100: expected a port not in firewall.scrape_ports"),
        ("firewall['allow'][0]['why'] = 'say \"hi\"'", "firewall.allow[0].why = 'say \"hi\"': expected a short text"),
        ("firewall['allow'][0]['protocol'] = 'icmp'", "firewall.allow[0].protocol = 'icmp': expected 'tcp' or 'udp'"),
        ("firewall['rollback_after'] = '5s'", "firewall.rollback_after = 5: expected greater than or equal to 10"),
        ("firewall['ssh_form'] = ['10.0.0.0/8']", "firewall.ssh_form = ['10.0.0.0/8']: unknown key; did you mean 'ssh_from'?"),
    ],
)
def test_bad_policy_is_refused_naming_file_and_key(project_copy, line, expected):
    append(project_copy / "group_data/lab.py", line)
    message = settings_error()
    assert f"group_data/lab.py: {expected}" in message
    assert "nothing was changed on any host" in message


@pytest.mark.parametrize(
    "line",
    [
        "firewall['ssh_from'] = ['203.0.113.0/29', '2001:db8::/32']",
        "firewall['scrape_ports'] = [9100, 9117]",
        "firewall['allow'].append({'port': 51820, 'protocol': 'udp', 'why': 'WireGuard'})",
        "firewall['allow'][0]['port'] = 465",
    ],
)
def test_good_policy_is_accepted(project_copy, line, lab_settings):
    append(project_copy / "group_data/lab.py", line)
    assert load_settings()["web1"].firewall != lab_settings["web1"].firewall


# --- the policy ------------------------------------------------------------------------


def test_web_host_opens_ssh_sites_scrape_ports_and_the_labs_extras(lab_settings):
    web = lab_settings["web1"]
    assert [(o.why, o.protocol, o.ports) for o in firewall.openings(web, MONITORS)] == [
        ("ssh", "tcp", (22,)),
        ("the sites", "tcp", (80, 443)),
        ("scraped by mon1", "tcp", (9100, 9104)),  # node_exporter's, and mysqld_exporter's (the sample's mariadb)
        ("mail to the lab's sink", "tcp", (25,)),
        ("certbot to the lab's ACME CA (pebble)", "tcp", (14000,)),
        ("the roots the lab's ACME CA issues from, for every lab host and the tests", "tcp", (15000,)),
        ("VRRP between the web hosts (failover)", "vrrp", ()),
        ("rsync's copies between the web hosts", "tcp", (873,)),
        ("MariaDB's replication between the web hosts", "tcp", (3306,)),
    ]


def test_vrrp_is_open_between_the_web_peers_only(lab_settings):
    peers = ", ".join(f"{peer.address}/32" for peer in lab_settings["web1"].failover.peers.values())
    assert rules(lab_settings["web1"], MONITORS)[-4] == (
        f'ip saddr {{ {peers} }} meta l4proto 112 counter accept comment "VRRP between the web hosts (failover)"'
    )
    assert not any("l4proto 112" in rule for rule in rules(lab_settings["mon1"], MONITORS))


def test_monitor_host_takes_monit_events_from_the_watched_hosts_only(lab_settings):
    senders = {"web1": ["10.123.0.11"], "web2": ["10.123.0.12"]}
    relay = [o for o in firewall.openings(lab_settings["mon1"], {}, senders) if o.ports == (MONIT_RELAY_PORT,)]
    assert [(o.protocol, o.sources) for o in relay] == [("tcp", ("10.123.0.11", "10.123.0.12"))]
    assert not [o for o in firewall.openings(lab_settings["web1"], MONITORS) if MONIT_RELAY_PORT in o.ports]
    (ruleset,) = firewall.config_files(lab_settings["mon1"], {}, senders)
    assert (f"ip saddr {{ 10.123.0.11/32, 10.123.0.12/32 }} tcp dport {MONIT_RELAY_PORT} counter accept "
            "comment \"Monit's events from web1, web2\"") in ruleset.content


def test_monitor_host_has_no_site_ports(lab_settings):
    assert all(80 not in opening.ports for opening in firewall.openings(lab_settings["mon1"], MONITORS))


def test_ssh_is_open_whatever_the_policy_opens_else(lab_settings):
    office_only = lab_settings["web1"].model_copy(update={"firewall": settings.Firewall(
        ssh_from=["203.0.113.7"], scrape_ports=[], allow=[],
    )})
    assert rules(office_only, {})[0] == 'ip saddr { 203.0.113.7/32 } tcp dport 22 counter accept comment "ssh"'


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (settings.EVERYWHERE, ["tcp dport 22"]),
        (["0.0.0.0/0"], ["meta nfproto ipv4 tcp dport 22"]),
        (["10.0.0.0/8", "::/0"], ["ip saddr { 10.0.0.0/8 } tcp dport 22", "meta nfproto ipv6 tcp dport 22"]),
        (["2001:db8::/32"], ["ip6 saddr { 2001:db8::/32 } tcp dport 22"]),
    ],
    ids=["everywhere", "ipv4-only", "network-and-every-ipv6", "ipv6-network"],
)
def test_opening_matches_each_family_it_lets_in(sources, expected):
    assert firewall.Opening("ssh", "tcp", (22,), tuple(sources)).matches() == expected


# --- the ruleset -----------------------------------------------------------------------


def test_ruleset_replaces_holdfasts_table_only(lab_settings):
    text = ruleset(lab_settings["web1"])
    assert "flush ruleset" not in text
    assert text.count("delete table") == 1
    assert "table inet holdfast\ndelete table inet holdfast\n" in text
    assert text.startswith("#!/usr/sbin/nft -f\n# Managed by Holdfast from templates/firewall/")


def test_scrape_ports_open_to_the_monitors_only_and_everything_else_dropped_with_a_counter(lab_settings):
    found = rules(lab_settings["web1"])
    assert 'ip saddr { 10.123.0.10/32 } tcp dport { 9100, 9104 } counter accept comment "scraped by mon1"' in found
    assert found[-1] == "counter drop comment \"not in Holdfast's policy\""
    assert "ct state established,related accept" in ruleset(lab_settings["web1"])


def test_mysqld_exporters_port_is_open_only_where_it_runs(lab_settings):
    web = lab_settings["web1"]
    services = {name: service.model_copy(update={"exporter": None}) for name, service in web.services.items()}
    without = web.model_copy(update={"services": services})
    assert [o.ports for o in firewall.openings(without, MONITORS) if o.why == "scraped by mon1"] == [(9100,)]
    two = {"mon1": ["10.123.0.10"], "mon2": ["10.123.0.20"]}
    assert [o.sources for o in firewall.openings(without, two) if o.why == "scraped by mon1, mon2"] == [
        ("10.123.0.10", "10.123.0.20")]


def test_table_comment_changes_with_the_policy(lab_settings):
    web = lab_settings["web1"]
    comment = firewall.table_comment(firewall.openings(web, MONITORS))
    assert f'comment "{comment}"' in ruleset(web)
    assert firewall.table_comment(firewall.openings(web, {"mon2": ["10.123.0.20"]})) != comment


def test_the_boot_unit_and_the_helper_name_the_ruleset_table_state_and_rollback():
    service, helper = firewall.unit_files()
    assert service.path == f"/etc/systemd/system/{firewall.UNIT}.service" and firewall.RULESET in service.content
    assert helper.path == firewall.HELPER and helper.mode == "755"
    for value in (firewall.RULESET, firewall.TABLE, firewall.FIREWALL_STATE, firewall.ROLLBACK_UNIT):
        assert value in helper.content
    assert "None" not in service.content + helper.content



def test_a_fleet_too_large_to_name_in_a_comment_is_counted_there(lab_settings):
    # nft refuses a comment of more than 128 characters: twenty web hosts' names were more.
    senders = {f"web{number}": [f"10.123.0.{10 + number}"] for number in range(1, 21)}
    (ruleset,) = firewall.config_files(lab_settings["mon1"], {}, senders)
    comments = re.findall(r'comment "([^"]*)"', ruleset.content)
    assert "Monit's events from 20 hosts" in comments
    assert max(map(len, comments)) <= 128
    assert firewall.hosts_named(["web1", "web2"]) == "web1, web2"
