"""Failover: the settings' checks (before any host is touched) and keepalived's files
rendered from the lab's group_data."""

import re
import shlex
from dataclasses import replace

import pytest
import yaml

from holdfast import failover, loading, monitoring
from holdfast.inventory import read_inventory
from lab.topology import LAB
from tests.conftest import FLEET, append, fleet_settings, load_settings, settings_error


@pytest.fixture(scope="module")
def lab():
    return fleet_settings()


def files_of(host_name, host_settings) -> dict[str, str]:
    return {file.path: file.content for file in failover.config_files(host_name, host_settings)}


def directives(conf: str) -> list[str]:
    return [line.strip() for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("failover['sites']['shop']['address'] = '192.0.2.10'",
         f"group_data/lab.py: failover.sites.shop.address = '192.0.2.10': expected an address inside "
         f"failover.network ({LAB.subnet})"),
        ("failover['peers']['web2']['address'] = '192.0.2.12'",
         "group_data/lab.py: failover.peers.web2.address = '192.0.2.12': expected an address inside"),
        ("failover['peers']['web2']['priority'] = failover['peers']['web1']['priority']",
         "group_data/lab.py: failover.peers.web2.priority = 150: expected a priority other than "
         "failover.peers.web1's: tied priorities"),
        ("failover['sites']['shop']['address'] = failover['peers']['web2']['address']",
         "failover.sites.shop.address = '10.123.0.12': already claimed by failover.peers.web2.address"),
        ("failover['peers'].pop('web2')",
         "group_data/lab.py: failover.peers = ['web1']: expected two or more web hosts"),
        ("failover['peers']['web3'] = {'address': failover['network'].replace('0/24', '13'), 'priority': 1}",
         "group_data/lab.py: failover.peers.web3 = 'web3': expected a host of group web (web1, web2)"),
        ("failover['sites']['blog'] = {'address': failover['network'].replace('0/24', '99'), 'router_id': 52}",
         "group_data/lab.py: failover.sites.blog = 'blog': expected a key of sites (shop)"),
        ("failover['network'] = None", "group_data/lab.py: failover.network = None: expected the web hosts' network"),
        ("failover['interface'] = 'host0 }'", "failover.interface = 'host0 }': expected a network interface name"),
        ("failover['sites']['shop']['address'] = '192.0.2.100/24'",
         "failover.sites.shop.address = '192.0.2.100/24': expected an IP address"),
        ("failover['preempt_delay'] = '1h'", "failover.preempt_delay = 3600: expected less than or equal to 1000"),
    ],
)
def test_bad_failover_is_refused_naming_file_key_and_form(project_copy, line, expected):
    if LAB.subnet.exploded != "10.123.0.0/24":
        expected = expected.replace("10.123.0.", str(LAB.subnet.network_address).removesuffix("0"))
    append(project_copy / "group_data/lab.py", line)
    message = settings_error()
    assert expected in message
    assert "nothing was changed on any host" in message


def test_two_sites_claiming_one_address_are_refused(project_copy):
    append(project_copy / "group_data/web.py", "sites['blog'] = {**sites['shop'], 'server_names': ['blog.example.com']}")
    append(project_copy / "group_data/lab.py",
           "failover['sites']['blog'] = {'address': failover['sites']['shop']['address'], 'router_id': 52}")
    assert (f"group_data/lab.py: failover.sites.blog.address = '{LAB.service_address}': already claimed by "
            "failover.sites.shop.address") in settings_error()


def test_two_sites_sharing_a_router_id_are_refused(project_copy):
    append(project_copy / "group_data/web.py", "sites['blog'] = {**sites['shop'], 'server_names': ['blog.example.com']}")
    append(project_copy / "group_data/lab.py",
           "failover['sites']['blog'] = {'address': failover['network'].replace('0/24', '99'), 'router_id': 51}")
    assert "failover.sites.blog.router_id = 51: expected a router_id other than failover.sites.shop's" in (
        settings_error())


def test_failover_for_a_group_of_one_host_is_refused(project_copy):
    single = project_copy / "inventories/single/lab.py"  # named lab.py: its hosts are in group lab
    single.parent.mkdir()
    single.write_text("from lab.topology import LAB\n\nweb = LAB.inventory_group('web')[:1]\n"
                      "monitors = LAB.inventory_group('monitors')\n")
    message = settings_error(str(single))
    assert ("group_data/lab.py: failover.enabled = True: expected False for a group of one web host (web1): the "
            "address has nowhere to move") in message
    assert "nothing was changed on any host" in message


def test_every_web_host_must_be_a_peer(project_copy):
    append(project_copy / "group_data/lab.py", "failover['peers']['web3'] = failover['peers'].pop('web2')")
    message = settings_error()
    assert ("group_data/lab.py: failover.peers = ['web1', 'web3']: expected every host of group web: web2 is missing"
            in message)
    assert "failover.peers.web3 = 'web3': expected a host of group web (web1, web2)" in message


def test_failover_off_needs_nothing_else(project_copy):
    append(project_copy / "group_data/lab.py", "failover = {'enabled': False}")
    loaded = load_settings()
    assert not failover.active(loaded["web1"])
    assert "keepalived.service" not in loaded["web1"].placements


def test_a_monitors_host_with_the_same_group_data_takes_no_part(lab):
    assert lab["mon1"].failover.enabled and not failover.active(lab["mon1"])


# --- keepalived's files -------------------------------------------------------------------


def test_each_host_advertises_from_its_own_address_to_the_other(lab):
    peers = lab["web1"].failover.peers
    for name, other in (("web1", "web2"), ("web2", "web1")):
        conf = directives(files_of(name, lab[name])[failover.CONFIG_FILE])
        assert f"unicast_src_ip {peers[name].address}" in conf
        assert conf[conf.index("unicast_peer {") + 1] == peers[other].address
        assert f"priority {peers[name].priority}" in conf
        assert f"router_id {name}" in conf


def test_every_host_starts_as_backup_with_delayed_preemption(lab):
    conf = directives(files_of("web1", lab["web1"])[failover.CONFIG_FILE])
    assert "state BACKUP" in conf and "preempt_delay 60" in conf
    assert not any(line.startswith(("state MASTER", "nopreempt")) for line in conf)


def test_the_service_address_is_on_the_hosts_network_and_interface(lab):
    conf = directives(files_of("web2", lab["web2"])[failover.CONFIG_FILE])
    assert f"{LAB.service_address}/{LAB.subnet.prefixlen} dev host0" in conf
    assert "virtual_router_id 51" in conf and "interface host0" in conf


def test_the_track_script_is_checked_every_interval_and_moves_the_address_after_fall(lab):
    conf = directives(files_of("web1", lab["web1"])[failover.CONFIG_FILE])
    assert f'script "{failover.CHECK_SCRIPT} shop"' in conf
    assert conf[conf.index("track_script {") + 1] == "holdfast_shop"
    assert {"interval 2", "fall 3", "rise 2", "enable_script_security"} <= set(conf)


def test_the_files_are_root_owned_and_the_config_private(lab):
    modes = {file.path: (file.mode, file.user) for file in failover.config_files("web1", lab["web1"])}
    assert modes == {failover.CONFIG_FILE: ("600", "root"), failover.CHECK_SCRIPT: ("755", "root")}


def test_site_values_reach_the_check_script_inert(project_copy):
    hostile = "O'K; touch /tmp/pwned $(id)"
    append(project_copy / "group_data/web.py", f"sites['shop']['health_expect'] = {hostile!r}")
    append(project_copy / "group_data/web.py", "sites['shop']['health_path'] = '/health?a=1&b=2'")
    web1 = load_settings()["web1"]
    script = files_of("web1", web1)[failover.CHECK_SCRIPT]
    [check] = [line for line in script.splitlines() if line.strip().startswith("curl ")]
    scheme = "https" if web1.sites["shop"].tls else "http"  # port 80 only redirects a site with tls
    assert shlex.split(check.removesuffix(" ;;")) == [
        "curl", "-fsSk", "--max-time", "2", "-H", "Host: shop.example.com", f"{scheme}://127.0.0.1/health?a=1&b=2",
        "|", "grep", "-qF", "--", hostile,
    ]


def test_the_check_of_a_site_without_tls_asks_nginx_over_http(project_copy):
    append(project_copy / "group_data/web.py", "sites['shop'].pop('tls', None)")
    plain = files_of("web1", load_settings()["web1"])[failover.CHECK_SCRIPT]
    assert " http://127.0.0.1/" in plain


# --- watched from outside -----------------------------------------------------------------


@pytest.fixture(scope="module")
def monitor_files():
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(FLEET)
        inventory = read_inventory("inventories/lab.py")
        watched = monitoring.watched_hosts(inventory)
        mon1 = loading.load(inventory)["mon1"]
        files = monitoring.blackbox_files(mon1, watched) + monitoring.prometheus_files(mon1, watched)
    return {file.path: yaml.safe_load(file.content) for file in files}


def test_the_monitor_probes_the_service_address_and_wants_the_primary_there(monitor_files):
    modules = monitor_files[monitoring.BLACKBOX_CONFIG]["modules"]
    serving, held = modules[f"shop@address-{LAB.service_address}"], modules[f"shop@address-{LAB.service_address}-on-web1"]
    assert "fail_if_header_not_matches" not in serving["http"]
    assert held["http"]["fail_if_header_not_matches"] == [{"header": "X-Served-By", "regexp": r"^web1(\..*)?$"}]
    [job] = [job for job in monitor_files[monitoring.PROMETHEUS_CONFIG]["scrape_configs"]
             if job["job_name"] == "service_addresses"]
    assert [(target["targets"], target["labels"]["check"], target["labels"]["primary"])
            for target in job["static_configs"]] == [([f"https://{LAB.service_address}/"], "serving", "web1"),
                                                     ([f"https://{LAB.service_address}/"], "held", "web1")]
    # The lab's shop has tls: its port 80 only redirects, so the address is probed over HTTPS.
    assert serving["http"]["fail_if_not_ssl"] and held["http"]["tls_config"] == {"server_name": "shop.example.com"}


def test_only_the_standby_is_labelled_so(monitor_files):
    [job] = [job for job in monitor_files[monitoring.PROMETHEUS_CONFIG]["scrape_configs"] if job["job_name"] == "sites"]
    assert {target["labels"]["host"]: target["labels"].get("role") for target in job["static_configs"]} == {
        "web1": None, "web2": "standby"}


def test_a_moved_address_and_a_failing_standby_alert(monitor_files):
    rules = {rule["alert"]: rule["expr"] for group in monitor_files[monitoring.RULES_FILE]["groups"]
             for rule in group["rules"] if "alert" in rule}
    assert 'check="held"} == 0 and on(site)' in rules["ServiceAddressMoved"]
    assert rules["StandbyUnhealthy"] == 'probe_success{job="sites",role="standby"} == 0'
    assert rules["ServiceAddressDown"] == 'probe_success{job="service_addresses",check="serving"} == 0'


def test_the_primary_is_the_peer_of_highest_priority_and_the_others_stand_by(monkeypatch):
    monkeypatch.chdir(FLEET)
    web1, web2 = monitoring.watched_hosts(read_inventory("inventories/lab.py"))
    peers = {name: peer.model_copy(update={"priority": {"web1": 100, "web2": 200}[name]})
             for name, peer in web1.failover.peers.items()}
    renamed = {"web2.example.com" if name == "web2" else name: peer for name, peer in peers.items()}
    turned = web1.failover.model_copy(update={"peers": renamed})
    off = web1.failover.model_copy(update={"enabled": False})
    # The first web host that takes part decides: here the second, web1 not taking part.
    (found,) = monitoring.service_addresses([replace(web1, failover=off), replace(web2, failover=turned)])
    assert (found.primary, found.standbys) == ("web2.example.com", ("web1",))
    assert found.held.served_by == r"^web2(\..*)?$" and found.held.host.endswith("-on-web2.example.com")
    shop = web2.sites["shop"]
    assert re.fullmatch(found.serving.expect, shop.content_expect) and found.held.expect == found.serving.expect
    assert monitoring.service_addresses([replace(web1, failover=off), replace(web2, failover=off)]) == []
