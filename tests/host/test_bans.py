"""Repeat offenders of the per-client limits banned at the firewall (holdfast/bans.py):
fail2ban runs the jail the deploy wrote; a client that keeps flooding past a limit is
dropped while others are served, is listed as banned, and is served again once its ban
expires on its own; `holdfast status` shows it meanwhile; its next ban is twice as long. Lab traffic comes from the bridge's
own addresses (lab/topology.py)."""

import hashlib
import re
import time

import pytest

from holdfast import bans
from holdfast.inventory import monitor_addresses
from lab.harness import traffic
from lab.harness.deploys import read_status
from lab.topology import LAB

pytestmark = pytest.mark.hosts("web")


def test_fail2ban_runs_the_deployed_jail(host, target, settings):
    [jail] = bans.config_files(settings, monitor_addresses(target.pyinfra_host.inventory))
    assert host.file(jail.path).sha256sum == hashlib.sha256(jail.content.encode()).hexdigest()
    assert host.service("fail2ban").is_running and host.service("fail2ban").is_enabled
    assert re.search(rf"Jail list:.*\b{bans.JAIL}\b", host.check_output("fail2ban-client status"))


def test_the_sources_never_limited_are_never_banned(host, settings):
    ignored = host.check_output(f"fail2ban-client get {bans.JAIL} ignoreip")
    for network in settings.edge.allow:
        assert network.split("/")[0] in ignored


def banned(host) -> list[str]:
    status = host.check_output(f"fail2ban-client status {bans.JAIL}")
    return re.search(r"Banned IP list:\s*(.*)", status).group(1).split()


def ban_seconds(host, address: str) -> int | None:
    """How long ``address``'s current ban lasts, as fail2ban set it (None: not banned)."""
    listed = host.check_output(f"fail2ban-client get {bans.JAIL} banip --with-time")
    found = re.search(rf"^{re.escape(address)}\s.*\+\s*(\d+)\s*=", listed, re.MULTILINE)
    return int(found.group(1)) if found else None


def flood_until_banned(host, target, site, source: str) -> list[traffic.Answer]:
    """The default class flooded from ``source`` at 20 times its rate until fail2ban lists it
    (at most a few times what the ban takes); the answers."""
    per_second = 20 * site.limits.default.per_second
    answers = []
    deadline = time.monotonic() + 3 * target.settings.edge.bans.within
    while source not in banned(host) and time.monotonic() < deadline:
        answers += traffic.paced(source, target.address, site.server_names[0], site.content_path,
                                 int(per_second * 2), per_second, timeout=3, tls=bool(site.tls))
    return answers


@pytest.fixture
def unbanned(host):
    yield
    host.run("fail2ban-client unban --all")


@pytest.mark.disruptive
def test_a_client_flooding_past_a_limit_is_banned_until_its_ban_expires(pytestconfig, host, target, site, unbanned):
    bans_settings = target.settings.edge.bans
    attacker, visitor = LAB.client_addresses["attacker"], LAB.client_addresses["visitor"]
    host.run("fail2ban-client unban --all")
    flood = flood_until_banned(host, target, site, attacker)
    assert attacker in banned(host), f"not banned after {len(flood)} requests"
    assert sum(answer.status == 429 for answer in flood) >= bans_settings.refused
    first = ban_seconds(host, attacker)
    assert first is not None and first >= bans_settings.ban
    print(f"banned after {len(flood)} requests ({sum(a.status == 429 for a in flood)} refused), for {first} s")
    web = next(found for found in read_status(pytestconfig.getoption("inventory"))["hosts"]
               if found["name"] == target.name)
    assert attacker in web["banned"] and web["bans_error"] == ""

    # dropped at the firewall: no answer at all, while another address is served
    assert traffic.request(attacker, target.address, site.server_names[0], site.content_path, timeout=3,
                           tls=bool(site.tls)).status == 0
    other = traffic.request(visitor, target.address, site.server_names[0], site.content_path, tls=bool(site.tls))
    assert other.status == 200 and site.content_expect in other.body

    # expires on its own, then served again
    deadline = time.monotonic() + first + 15
    while attacker in banned(host) and time.monotonic() < deadline:
        time.sleep(1)
    assert attacker not in banned(host)
    again = traffic.request(attacker, target.address, site.server_names[0], site.content_path, tls=bool(site.tls))
    assert again.status == 200

    # the next ban is twice as long
    flood_until_banned(host, target, site, attacker)
    second = ban_seconds(host, attacker)
    print(f"banned again, for {second} s")
    assert second is not None and second == min(2 * first, bans_settings.longest)
