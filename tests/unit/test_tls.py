"""HTTPS per site: the server blocks on 80 and 443, what the host's certificate files must
be, what a running nginx would lose, and group_data that cannot work."""

from datetime import UTC, datetime, timedelta

import pytest
from pyinfra.api import Inventory

from holdfast import nginx, settings
from holdfast.facts import NginxTakeover
from holdfast.inventory import read_inventory
from tests.conftest import FLEET, append, edit, fleet_settings, settings_error
from tests.unit.test_nginx import block, files_by_path, with_site

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
KEY = "ab" * 32


@pytest.fixture(scope="module")
def web_settings() -> settings.HostSettings:
    return fleet_settings("inventories/prod.py")["web1.example.com"]


def site_file(host_settings, **arguments) -> str:
    files = nginx.config_files(host_settings, {}, **arguments)
    return {file.path: file.content for file in files}[f"{nginx.SITES_DIR}/shop.conf"]


def test_port_80_redirects_to_https_except_the_acme_challenge(web_settings):
    content = site_file(web_settings)
    http, https = content.split("listen 443 ssl http2;")
    assert "return 301 https://$host$request_uri;" in block(http, "location /")
    challenge = block(http, f"location ^~ {nginx.ACME_CHALLENGE_URI}")
    assert f"root {nginx.ACME_WEBROOT};" in challenge and "limit_" not in challenge
    assert f"ssl_certificate {nginx.LETSENCRYPT_LIVE}/shop/fullchain.pem;" in https
    assert f"ssl_certificate_key {nginx.LETSENCRYPT_LIVE}/shop/privkey.pem;" in https
    assert 'add_header Strict-Transport-Security "max-age=31536000" always;' in https


def test_limits_and_cache_are_served_on_443(web_settings):
    https = site_file(web_settings).split("listen 443 ssl http2;")[1]
    assert "limit_req zone=shop_default" in block(https, "location /")
    assert "limit_conn holdfast_connections 20;" in block(https, "location /")
    assert "fastcgi_cache shop_cache;" in https


def test_a_site_without_its_certificate_yet_is_served_over_http_with_the_challenge(web_settings):
    content = site_file(web_settings, uncertified=["shop"])
    assert "listen 443" not in content and "return 301" not in content
    assert "limit_req zone=shop_default" in block(content, "location /")
    assert f"location ^~ {nginx.ACME_CHALLENGE_URI}" in content


def test_a_site_without_tls_has_no_challenge_and_no_443(web_settings):
    content = site_file(with_site(web_settings, tls=None))
    assert "listen 443" not in content and "acme-challenge" not in content


def test_challenge_tokens_this_host_lacks_are_asked_of_the_other_web_hosts_once(web_settings):
    files = files_by_path(web_settings)
    assert "holdfast_acme_peers" not in files[f"{nginx.CONFIG_DIR}/edge.conf"]
    files = {file.path: file.content for file in nginx.config_files(web_settings, {}, peers=["10.0.0.12"])}
    assert "server 10.0.0.12:80;" in block(files[f"{nginx.CONFIG_DIR}/edge.conf"], "upstream holdfast_acme_peers")
    peers = files[f"{nginx.SITES_DIR}/shop.conf"].split("location @holdfast_acme_peers {")[1]
    assert "return 404;" in block(peers, "if ($http_x_holdfast_acme_peer)")
    assert "proxy_set_header X-Holdfast-Acme-Peer 1;" in peers


def test_peers_are_asked_only_by_a_host_with_an_acme_site(web_settings):
    files = {file.path: file.content for file in nginx.config_files(with_site(web_settings, tls=None), {}, peers=["10.0.0.12"])}
    assert "10.0.0.12" not in files[f"{nginx.CONFIG_DIR}/edge.conf"] + files[f"{nginx.SITES_DIR}/shop.conf"]


def test_mozilla_intermediate_protocols(web_settings):
    edge = files_by_path(web_settings)[f"{nginx.CONFIG_DIR}/edge.conf"]
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in edge and "ssl_session_tickets off;" in edge


# --- a mode-files certificate, as the host has it -------------------------------------


def files_site(web_settings, *server_names):
    site = with_site(web_settings, tls={"mode": "files", "certificate": "/etc/ssl/shop.pem", "key": "/etc/ssl/shop.key"})
    if server_names:
        site = with_site(site, server_names=list(server_names))
    return site.sites["shop"]


GOOD = {"certificate": True, "key": True, "certificate_key": KEY, "key_key": KEY,
        "not_after": NOW + timedelta(days=60), "names": ["shop.example.com", "*.shop.example.com"]}


def test_a_files_site_is_served_with_its_own_certificate_and_an_acme_site_with_certbots(web_settings):
    own = site_file(web_settings.model_copy(update={"sites": {"shop": files_site(web_settings)}}))
    assert "ssl_certificate /etc/ssl/shop.pem;\n    ssl_certificate_key /etc/ssl/shop.key;\n" in own
    acme = site_file(web_settings)
    assert (f"ssl_certificate {nginx.LETSENCRYPT_LIVE}/shop/fullchain.pem;\n"
            f"    ssl_certificate_key {nginx.LETSENCRYPT_LIVE}/shop/privkey.pem;\n") in acme


def test_a_good_certificate_passes(web_settings):
    assert nginx.certificate_problems("shop", files_site(web_settings), GOOD, NOW) == []


@pytest.mark.parametrize(("found", "key", "expected"), [
    ({"names": []}, "certificate", "expected an existing file on the host"),
    ({**GOOD, "key": False, "key_key": None}, "key", "expected an existing file on the host"),
    ({**GOOD, "key_key": "cd" * 32}, "key", "expected the private key of /etc/ssl/shop.pem (it belongs to another)"),
    ({**GOOD, "certificate_key": None}, "certificate", "expected a PEM certificate (openssl cannot read it)"),
    ({**GOOD, "not_after": NOW - timedelta(hours=1)}, "certificate",
     "expected a certificate still valid (it expired 2026-11-27 11:00 UTC)"),
    ({**GOOD, "not_after": NOW}, "certificate", "expected a certificate still valid (it expired 2026-11-27 12:00 UTC)"),
])
def test_a_bad_certificate_names_the_site_and_key(web_settings, found, key, expected):
    (loc, _, message), *_ = nginx.certificate_problems("shop", files_site(web_settings), found, NOW)
    assert (loc, message) == (("sites", "shop", "tls", key), expected)


def test_a_server_name_the_certificate_does_not_cover(web_settings):
    site = files_site(web_settings, "shop.example.com", "a.b.shop.example.com", "shop.example.org")
    problems = nginx.certificate_problems("shop", site, GOOD, NOW)
    assert [(loc, value) for loc, value, _ in problems] == [
        (("sites", "shop", "server_names", 1), "a.b.shop.example.com"),
        (("sites", "shop", "server_names", 2), "shop.example.org"),
    ]
    assert problems[0][2] == "expected a name /etc/ssl/shop.pem covers (shop.example.com, *.shop.example.com)"


def test_a_certificate_without_dns_names_says_so(web_settings):
    (_, _, message), *_ = nginx.certificate_problems("shop", files_site(web_settings), {**GOOD, "names": []}, NOW)
    assert message == "expected a name /etc/ssl/shop.pem covers (no DNS names)"


def test_acme_peers_are_the_other_web_hosts(monkeypatch):
    monkeypatch.chdir(FLEET)
    inventory = read_inventory("inventories/prod.py")
    assert (nginx.acme_peers(inventory, "web1.example.com"), nginx.acme_peers(inventory, "mon1.example.net")) == (
        ["web2.example.com"], ["web1.example.com", "web2.example.com"])
    assert nginx.acme_peers(Inventory((["solo"], {})), "solo") == []  # no web group


# --- an nginx Holdfast takes over ------------------------------------------------------


def live(**files: list[str]) -> dict:
    """The NginxTakeover fact of an nginx with these files (path -> server names); Debian's
    default site enabled through its link."""
    found = {path: {"real": path, "names": names} for path, names in files.items()}
    found["/etc/nginx/sites-enabled/default"] = {"real": "/etc/nginx/sites-available/default", "names": ["_"]}
    return found


LIVE = live(**{
    "/etc/nginx/nginx.conf": [],
    "/etc/nginx/modules-enabled/50-mod-stream.conf": [],
    "/etc/nginx/mime.types": [],
    "/etc/nginx/sites-enabled/blog": ["blog.example.com", "www.blog.example.com"],
    "/etc/nginx/conf.d/gzip.conf": [],
})
PRISTINE = ["/etc/nginx/sites-available/default", "/etc/nginx/nginx.conf"]


def test_every_file_of_the_running_nginx_holdfast_would_drop_is_named():
    assert nginx.dropped_files(LIVE, PRISTINE, []) == {
        "/etc/nginx/sites-enabled/blog": ["blog.example.com", "www.blog.example.com"],
        "/etc/nginx/conf.d/gzip.conf": [],
    }


def test_a_changed_default_site_is_named_too():
    assert "/etc/nginx/sites-enabled/default" in nginx.dropped_files(LIVE, [], [])


def test_kept_files_and_an_nginx_conf_with_servers():
    with_servers = {**LIVE, "/etc/nginx/nginx.conf": {"real": "/etc/nginx/nginx.conf", "names": ["old.example.com"]}}
    kept = ["/etc/nginx/sites-enabled/*", "/etc/nginx/conf.d/*.conf"]
    assert nginx.dropped_files(with_servers, PRISTINE, kept) == {"/etc/nginx/nginx.conf": ["old.example.com"]}


def test_a_keep_glob_matching_nothing_names_its_key():
    keep = ["/etc/nginx/sites-enabled/*", "/etc/nginx/sites-enabled/blgo"]
    matched = {"/etc/nginx/sites-enabled/*": True, "/etc/nginx/sites-enabled/blgo": False}
    [(loc, value, message)] = nginx.keep_problems(keep, matched)
    assert (loc, value, message) == (("edge", "keep", 1), "/etc/nginx/sites-enabled/blgo",
                                     "expected a glob matching files on the host (it matches none)")


def test_kept_globs_are_included_after_holdfasts_sites(web_settings):
    kept = web_settings.model_copy(update={"edge": settings.Edge(keep=["/etc/nginx/sites-enabled/*"])})
    conf = files_by_path(kept)["/etc/nginx/nginx.conf"]
    assert conf.index("sites/*.conf;") < conf.index("include /etc/nginx/sites-enabled/*;")


@pytest.mark.parametrize(("names", "server_name", "covered"), [
    (["shop.example.com"], "SHOP.example.com", True),
    (["*.example.com"], "shop.example.com", True),
    (["*.example.com"], "a.shop.example.com", False),
    (["*.example.com"], "example.com", False),
    ([], "shop.example.com", False),
])
def test_covers(names, server_name, covered):
    assert nginx.covers(names, server_name) is covered


# --- group_data that cannot work -------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('"tls": {"mode": "acme", "hsts": "365d"}', '"tls": {"mode": "files", "certificate": "/etc/ssl/shop.pem"}',
     "sites.shop.tls = {'mode': 'files', 'certificate': '/etc/ssl/shop.pem'}: expected certificate and key"),
    ('"tls": {"mode": "acme", "hsts": "365d"}', '"tls": {"mode": "acme", "key": "/etc/ssl/shop.key"}',
     "sites.shop.tls = {'mode': 'acme', 'key': '/etc/ssl/shop.key'}: expected no key with mode 'acme'"),
    ('"tls": {"mode": "acme", "hsts": "365d"}', '"tls": {"mode": "letsencrypt"}',
     "sites.shop.tls.mode = 'letsencrypt': expected 'acme' or 'files'"),
    ('"email": "webmaster@example.com",', '"email": "webmaster"',
     "acme.email = 'webmaster': expected an email address"),
    ('"allow": [', '"keep": ["sites-enabled/*"], "allow": [',
     "edge.keep[0] = 'sites-enabled/*': expected an absolute path or glob under /etc/nginx"),
    ('"allow": [', '"keep": ["/etc/nginx/$(reboot)"], "allow": [', "edge.keep[0] = '/etc/nginx/$(reboot)'"),
])
def test_bad_tls_values(project_copy, old, new, expected):
    edit(project_copy / "group_data/web.py", old, new)
    assert f"group_data/web.py: {expected}" in settings_error("inventories/prod.py")


def test_acme_mode_without_an_email_names_the_site(project_copy):
    append(project_copy / "group_data/web.py", "acme = {}")
    assert ("group_data/web.py: sites.shop.tls.mode = 'acme': expected acme.email set (the ACME account's email) "
            "for a site with mode 'acme'" in settings_error("inventories/prod.py"))


def test_server_names_are_read_wherever_nginx_t_prints_them():
    output = ["file /etc/nginx/nginx.conf /etc/nginx/nginx.conf",
              "line     server_name _; # server_name commented.example.com;",
              "file /etc/nginx/sites-enabled/blog /etc/nginx/sites-available/blog",
              "line server { listen 80; server_name blog.example.com www.blog.example.com; root /srv; }"]
    assert NginxTakeover().process(output) == {
        "/etc/nginx/nginx.conf": {"real": "/etc/nginx/nginx.conf", "names": ["_"]},
        "/etc/nginx/sites-enabled/blog": {"real": "/etc/nginx/sites-available/blog",
                                          "names": ["blog.example.com", "www.blog.example.com"]},
    }
    assert NginxTakeover().process(["holdfast"]) is None
