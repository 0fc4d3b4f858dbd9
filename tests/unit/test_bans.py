"""The ban jail rendered from the sample group_data: only the per-client limits' refusals
count, the sources never limited are never banned, bans grow and expire; bad values are
refused naming file, key, value and form."""

import configparser

import pytest

from holdfast import bans, nginx, settings
from tests.conftest import edit, fleet_settings, settings_error

MONITORS = {"mon1.example.net": ["198.51.100.10", "2001:db8::10"]}


@pytest.fixture(scope="module")
def web_settings() -> settings.HostSettings:
    return fleet_settings("inventories/prod.py")["web1.example.com"]


def jail(host_settings) -> configparser.SectionProxy:
    [jail_file] = bans.config_files(host_settings, MONITORS)
    assert jail_file.path == "/etc/fail2ban/jail.d/holdfast.local"
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(jail_file.content)
    return parsed


def test_only_the_per_client_limits_refusals_count(web_settings):
    section = jail(web_settings)[bans.JAIL]
    assert section["filter"] == 'nginx-limit-req[ngx_limit_req_zones="shop_default|shop_strict"]'
    assert section["logpath"] == nginx.ERROR_LOG
    # the zones are the site file's own per-client ones, not the budget for everyone
    site_file = next(file.content for file in nginx.config_files(web_settings, MONITORS)
                     if file.path == f"{nginx.SITES_DIR}/shop.conf")
    for zone in bans.limit_zones(web_settings):
        assert f"limit_req_zone $holdfast_client zone={zone}:" in site_file
    assert "$holdfast_everyone zone=shop_strict_budget" in site_file
    assert "shop_strict_budget" not in section["filter"]


def test_nginx_logs_refusals_at_the_level_the_jail_reads(web_settings):
    nginx_conf = next(file.content for file in nginx.config_files(web_settings, MONITORS)
                      if file.path == "/etc/nginx/nginx.conf")
    assert f"error_log {nginx.ERROR_LOG} {web_settings.edge.log_level};" in nginx_conf


def test_the_sources_never_limited_are_never_banned(web_settings):
    ignored = jail(web_settings)[bans.JAIL]["ignoreip"].split()
    assert ignored == ["127.0.0.0/8", "::1/128", "198.51.100.10/32", "2001:db8::10/128", "203.0.113.0/29"]


def test_bans_grow_and_expire_as_settings_say(web_settings):
    section = jail(web_settings)[bans.JAIL]
    ban = web_settings.edge.bans
    assert (ban.refused, ban.within, ban.ban, ban.longest) == (60, 60, 600, 86400)
    assert {key: section[key] for key in ("maxretry", "findtime", "bantime", "bantime.increment", "bantime.maxtime")} \
        == {"maxretry": "60", "findtime": "60", "bantime": "600", "bantime.increment": "true",
            "bantime.maxtime": "86400"}
    assert section["banaction"] == "nftables-allports[blocktype=drop]" and section["enabled"] == "true"


def test_debians_sshd_jail_reads_the_journal(web_settings):
    assert dict(jail(web_settings)["sshd"]) == {"backend": "systemd"}
    assert "python3-systemd" in bans.PACKAGES


def test_no_bans_without_sites_or_when_off(web_settings):
    assert bans.active(web_settings)
    off = web_settings.model_copy(update={"edge": settings.Edge(bans={"enabled": False})})
    assert not bans.active(off)
    assert not bans.active(web_settings.model_copy(update={"sites": {}}))


@pytest.mark.parametrize(("new", "expected"), [
    ('"bans": {"refused": 0}', "edge.bans.refused = 0: expected greater than or equal to 1"),
    ('"bans": {"within": "soon"}', "edge.bans.within = 'soon': expected a duration"),
    ('"bans": {"ban": "1h", "longest": "10m"}',
     "edge.bans = {'ban': '1h', 'longest': '10m'}: expected longest (600s) at least ban (3600s)"),
    ('"bans": {"forever": True}', "edge.bans.forever"),
])
def test_bad_ban_values(project_copy, new, expected):
    edit(project_copy / "group_data/web.py", '"allow": ["203.0.113.0/29"],', f'"allow": ["203.0.113.0/29"], {new},')
    assert f"group_data/web.py: {expected}" in settings_error("inventories/prod.py")
