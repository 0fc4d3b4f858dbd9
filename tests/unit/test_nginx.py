"""The nginx configuration rendered from the sample group_data (and variants of it): what it
says, that it parses (crossplane), and that the analyzer gixy finds nothing in it. Also
the edge's settings: bad values are refused naming file, key, value and form."""

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import crossplane
import pytest

from holdfast import check, forms, nginx, settings
from tests.conftest import edit, fleet_settings, load_settings, settings_error

MONITORS = {"mon1.example.net": ["198.51.100.10", "2001:db8::10"]}


@pytest.fixture(scope="module")
def web_settings() -> settings.HostSettings:
    return fleet_settings("inventories/prod.py")["web1.example.com"]


def files_by_path(host_settings, monitors=MONITORS, read_only=False) -> dict[str, str]:
    return {file.path: file.content for file in nginx.config_files(host_settings, monitors, read_only=read_only)}


def site_conf(host_settings, name: str = "shop") -> str:
    """The site's file from the server block that serves it on (over HTTPS, when it has tls)."""
    content = files_by_path(host_settings)[f"{nginx.SITES_DIR}/{name}.conf"]
    head, _, servers = content.partition("server {\n    listen 80;")
    return head + servers.split("listen 443 ssl http2;")[-1]


def block(content: str, opening: str) -> str:
    """The body of the (innermost-free) block that ``opening`` starts, e.g. 'location = /health'."""
    return content.split(f"{opening} {{", 1)[1].split("}", 1)[0]


def with_site(host_settings, **changes) -> settings.HostSettings:
    """``host_settings`` with its first site changed (values given as group_data would)."""
    name, site = next(iter(host_settings.sites.items()))
    changed = settings.Site.model_validate({**site.model_dump(), **changes})
    return host_settings.model_copy(update={"sites": {**host_settings.sites, name: changed}})


def proxy_backend(host_settings) -> dict:
    site = next(iter(host_settings.sites.values()))
    return {**site.backend.model_dump(), "kind": "proxy", "address": "127.0.0.1:8080"}


def variants(host_settings) -> dict[str, settings.HostSettings]:
    """The sample, and what the sample does not show: a proxy backend, a stale cache."""
    return {
        "sample": host_settings,
        "fastcgi-stale-cache": with_site(host_settings, stale_cache={}),
        "proxy": with_site(host_settings, backend=proxy_backend(host_settings)),
        "proxy-stale-cache": with_site(host_settings, backend=proxy_backend(host_settings), stale_cache={}),
        "dry-run": host_settings.model_copy(update={"edge": settings.Edge(dry_run=True)}),
    }


# --- what the configuration says ---------------------------------------------------


def test_files_are_nginx_conf_edge_conf_and_per_site_server_and_pages(web_settings):
    expected = ["/etc/nginx/nginx.conf", f"{nginx.CONFIG_DIR}/edge.conf"]
    for name in web_settings.sites:
        expected += [
            f"{nginx.SITES_DIR}/{name}.conf",
            f"{nginx.PAGES_DIR}/{name}/unavailable.html",
            f"{nginx.PAGES_DIR}/{name}/too-many-requests.html",
        ]
    assert list(files_by_path(web_settings)) == expected


def test_site_file_names_its_hosts_and_backend(web_settings):
    for name, site in web_settings.sites.items():
        content = files_by_path(web_settings)[f"{nginx.SITES_DIR}/{name}.conf"]
        assert f"server_name {' '.join(site.server_names)};" in content
        assert f"server {site.backend.address} max_fails=" in content


def test_allow_list_is_loopback_monitors_and_edge_allow_each_once():
    edge = settings.Edge(allow=["198.51.100.10", "203.0.113.0/29"])
    assert nginx.allow_list(edge, MONITORS) == [
        ("127.0.0.0/8", "loopback"),
        ("::1/128", "loopback"),
        ("198.51.100.10/32", "monitors host mon1.example.net"),
        ("2001:db8::10/128", "monitors host mon1.example.net"),
        ("203.0.113.0/29", "edge.allow"),
    ]


def test_allow_listed_sources_get_an_empty_key(web_settings):
    edge_conf = files_by_path(web_settings)[f"{nginx.CONFIG_DIR}/edge.conf"]
    assert "    198.51.100.10/32 1;  # monitors host mon1.example.net\n" in edge_conf
    key = block(edge_conf, "map $holdfast_allow_listed $holdfast_client")
    assert key.split() == ["1", '"";', "default", "$binary_remote_addr;"]


@pytest.mark.parametrize(
    ("path", "strict"),
    [("/login", True), ("/login/", True), ("/search/shoes", True), ("/xmlrpc.php", True),
     ("/loginx", False), ("/", False), ("/shop/login", False), ("/xmlrpcXphp", False)],
)
def test_strict_class_is_its_paths_and_what_is_under_them(path, strict):
    pattern = nginx.strict_pattern(["/login", "/search", "/xmlrpc.php"])
    assert bool(re.search(pattern, path)) is strict


def test_each_class_has_its_zone_and_limit(web_settings):
    default, strict = web_settings.sites["shop"].limits.default, web_settings.sites["shop"].limits.strict
    content = site_conf(web_settings)
    assert f"zone=shop_default:10m rate={default.rate};" in content
    assert f"zone=shop_strict:10m rate={strict.rate};" in content
    assert f"limit_req zone=shop_default burst={default.burst} delay={default.delay};" in block(content, "location /")
    assert f"limit_req zone=shop_strict burst={strict.burst} nodelay;" in content


def test_the_strict_class_has_a_budget_for_all_clients_together(web_settings):
    budget = web_settings.sites["shop"].limits.strict_budget
    content = site_conf(web_settings)
    assert f"limit_req_zone $holdfast_everyone zone=shop_strict_budget:10m rate={budget.rate};" in content
    assert "limit_conn_zone $holdfast_everyone zone=shop_strict_in_flight:10m;" in content
    strict_location = block(content, f"location ~ {nginx.strict_pattern(web_settings.sites['shop'].limits.strict_paths)}")
    for location in (strict_location, block(content, "location @strict_args")):
        # Beyond the budget, the busy page at once: nodelay, never a queue.
        assert f"limit_req zone=shop_strict_budget burst={budget.burst} nodelay;" in location
        assert f"limit_conn shop_strict_in_flight {budget.in_flight};" in location
    default_class = content.split("# Everything else: the default class.", 1)[1]
    assert "strict_budget" not in default_class and "in_flight" not in default_class
    assert "strict_budget" not in block(content, "location = /health")


def test_the_sources_never_limited_are_out_of_the_budget_too(web_settings):
    edge_conf = files_by_path(web_settings)[f"{nginx.CONFIG_DIR}/edge.conf"]
    assert block(edge_conf, "map $holdfast_allow_listed $holdfast_everyone").split() == ["1", '"";', "default", "1;"]


def test_strict_args_send_dynamic_requests_to_the_strict_class(web_settings):
    content = site_conf(with_site(web_settings, limits={"strict_args": ["s", "q"]}))
    default_class = content.split("# Everything else: the default class.", 1)[1]  # location ~ \.php$ and /
    assert default_class.count("if ($arg_s) {\n            return 418;") == default_class.count("if ($arg_q) {") == 2
    assert "error_page 418 = @strict_args;" in content
    strict = web_settings.sites["shop"].limits.strict
    named = block(content, "location @strict_args")
    assert f"limit_req zone=shop_strict burst={strict.burst} nodelay;" in named
    # Without it, a request that came through error_page 418 gets nginx's own 429 and 504 pages.
    assert "error_page 502 503 504 /.holdfast/unavailable.html;" in named
    assert "error_page 418 = @strict_args;\n    recursive_error_pages on;" in content
    assert "return 418" not in block(content, "location ~* \\.(css|js|png|jpe?g|gif|ico|svg|webp|woff2?)$")


def test_tracking_arguments_leave_the_cache_key(web_settings):
    pattern = nginx.ignored_arg_pattern(web_settings.sites["shop"].stale_cache.ignored_args)

    def key_args(args: str) -> str:
        for _ in range(4):  # the four maps, then the trailing '&' dropped
            args = re.sub(pattern, r"\1\2", args, count=1)
        return re.sub(r"^(.*?)&*$", r"\1", args)

    assert key_args("fbclid=abc") == key_args("") == ""
    assert key_args("p=5&utm_source=x&utm_medium=y&fbclid=z") == key_args("p=5") == "p=5"
    assert key_args("gclid=1&p=5&mc_cid=2&q=a") == "p=5&q=a"
    assert key_args("fbclidx=1&xutm_a=2") == "fbclidx=1&xutm_a=2"
    assert key_args("utmost=1&uid=2&mc=3") == "utmost=1&uid=2&mc=3"  # 'utm_*' is the prefix 'utm_'
    content = site_conf(web_settings)
    assert "_cache_key $scheme$request_method$host$holdfast_request_path?$holdfast_shop_cache_args;" in content


def test_only_private_cookies_bypass_the_cache(web_settings):
    content = site_conf(web_settings)
    pattern = nginx.private_cookie_pattern(web_settings.sites["shop"].stale_cache.private_cookies)
    assert re.search(pattern, "_ga=1; wordpress_logged_in_abc=x") and re.search(pattern, "comment_author_1=a")
    assert not re.search(pattern, "_ga=1; my_wordpress_logged_in_=x")
    assert "fastcgi_cache_bypass $holdfast_shop_private $http_authorization;" in content


def test_the_site_file_uses_the_patterns_and_places_it_is_built_from(web_settings):
    site = web_settings.sites["shop"]
    content = files_by_path(web_settings)[f"{nginx.SITES_DIR}/shop.conf"]
    assert f"location ~ {nginx.strict_pattern(site.limits.strict_paths)} {{" in content
    assert f'"~{nginx.ignored_arg_pattern(site.stale_cache.ignored_args)}" "$1$2";' in content
    assert f'"~{nginx.private_cookie_pattern(site.stale_cache.private_cookies)}" 1;' in content
    assert f"_cache_path {nginx.CACHE_DIR}/shop levels=1:2 keys_zone=shop_cache:" in content
    assert f"alias {nginx.PAGES_DIR}/shop/unavailable.html;" in content


def test_allow_listed_paths_answer_others_403(web_settings):
    content = site_conf(web_settings)
    body = block(content, "location ~ ^(/wp\\-cron\\.php)(/|$)")
    assert "if ($holdfast_allow_listed = 0) {\n            return 403;" in body


def test_no_strict_args_no_named_location(web_settings):
    content = site_conf(with_site(web_settings, limits={"strict_args": []}))
    assert "418" not in content and "@strict_args" not in content


@pytest.mark.parametrize(
    ("burst", "delay", "expected"), [(0, 0, ";"), (5, 0, " burst=5;"), (5, "nodelay", " burst=5 nodelay;")]
)
def test_limit_req_leaves_out_what_nginx_refuses_as_zero(web_settings, burst, delay, expected):
    changed = with_site(web_settings, limits={"default": {"rate": "5r/s", "burst": burst, "delay": delay}})
    assert f"limit_req zone=shop_default{expected}" in site_conf(changed)


def test_429_pages_say_when_to_retry_per_class(web_settings):
    limits = web_settings.sites["shop"].limits
    for name, limit in (("default", limits.default), ("strict", limits.strict)):
        location = block(site_conf(web_settings), f"location = {nginx.PAGES_URI}/too-many-requests-{name}.html")
        assert f"add_header Retry-After {limit.retry_after} always;" in location


@pytest.mark.parametrize(("rate", "seconds"), [("10r/s", 1), ("1r/s", 1), ("30r/m", 2), ("1r/m", 60), ("7r/m", 9)])
def test_retry_after_is_the_time_the_rate_takes_to_free_a_slot(rate, seconds):
    assert settings.DefaultLimit(rate=rate).retry_after == seconds


def test_backend_timeouts_and_fallback_page(web_settings):
    site = web_settings.sites["shop"]
    content = site_conf(web_settings)
    assert f"fastcgi_read_timeout {site.backend.read_timeout}s;" in content
    assert f"error_page 502 503 504 {nginx.PAGES_URI}/unavailable.html;" in content


def test_fallback_page_shows_the_title_and_message(web_settings):
    fallback = web_settings.sites["shop"].fallback
    page = html.unescape(files_by_path(web_settings)[f"{nginx.PAGES_DIR}/shop/unavailable.html"])
    assert f"<h1>{fallback.title}</h1>" in page and f"<p>{fallback.message}</p>" in page


def test_the_429_page_asks_to_wait(web_settings):
    page = html.unescape(files_by_path(web_settings)[f"{nginx.PAGES_DIR}/shop/too-many-requests.html"])
    assert "<h1>Too many requests</h1>" in page and "<p>Please wait a moment, then try again.</p>" in page


def test_stale_cache_is_served_while_the_backend_fails(web_settings):
    content = site_conf(with_site(web_settings, stale_cache={"valid": "30s"}))
    assert "fastcgi_cache_use_stale error timeout" in content and "fastcgi_cache_valid 200 301 302 30s;" in content


def test_health_location_never_uses_the_cache(web_settings):
    assert "fastcgi_cache off;" in block(site_conf(with_site(web_settings, stale_cache={})), "location = /health")


def test_dry_run_switch(web_settings):
    dry = web_settings.model_copy(update={"edge": settings.Edge(dry_run=True)})
    edge_conf = files_by_path(dry)[f"{nginx.CONFIG_DIR}/edge.conf"]
    assert "limit_req_dry_run on;" in edge_conf and "limit_conn_dry_run on;" in edge_conf


def test_a_replica_answers_what_would_write_with_the_read_only_page(web_settings):
    files = files_by_path(web_settings, read_only=True)
    content = files[f"{nginx.SITES_DIR}/shop.conf"]
    strict = nginx.strict_pattern(web_settings.sites["shop"].limits.strict_paths)
    assert (f"    error_page 423 =503 {nginx.PAGES_URI}/read-only.html;\n"
            "    if ($request_method !~ ^(GET|HEAD)$) {\n        return 423;\n    }\n"
            f"    if ($uri ~ {strict}) {{\n        return 423;\n    }}\n") in content
    page = block(content, f"location = {nginx.PAGES_URI}/read-only.html")
    assert f"alias {nginx.PAGES_DIR}/shop/read-only.html;" in page and "Retry-After 300 always" in page
    assert nginx.READ_ONLY_TITLE in files[f"{nginx.PAGES_DIR}/shop/read-only.html"]
    primary = files_by_path(web_settings)
    assert "423" not in primary[f"{nginx.SITES_DIR}/shop.conf"] and f"{nginx.PAGES_DIR}/shop/read-only.html" not in primary


# --- offline checks: crossplane parses it, gixy finds nothing --------------------------

@pytest.fixture(params=["sample", "fastcgi-stale-cache", "proxy", "proxy-stale-cache", "dry-run", "read-only"])
def rendered_tree(request, web_settings, tmp_path) -> Path:
    if request.param == "read-only":  # the sample, on a host whose database is a replica
        return check.write_nginx_tree(tmp_path, files_by_path(web_settings, read_only=True))
    return check.write_nginx_tree(tmp_path, files_by_path(variants(web_settings)[request.param]))


def test_rendered_configuration_parses(rendered_tree):
    payload = crossplane.parse(str(rendered_tree))
    assert (payload["status"], payload["errors"]) == ("ok", [])


def test_every_site_file_is_parsed(rendered_tree, web_settings):
    parsed = {Path(config["file"]).name for config in crossplane.parse(str(rendered_tree))["config"]}
    assert {f"{name}.conf" for name in web_settings.sites} <= parsed


def test_gixy_finds_nothing(rendered_tree):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gixy"), "--format", "json", str(rendered_tree)],
        capture_output=True, text=True,
    )
    findings = json.loads(result.stdout or "[]")
    assert [(finding["plugin"], finding["reason"]) for finding in findings] == [], result.stderr
    assert result.returncode == 0, result.stderr  # gixy failing to read the tree finds nothing too


# --- settings of the edge ----------------------------------------------------------


def test_a_budget_below_what_one_client_may_ask_is_refused(project_copy):
    edit(project_copy / "group_data/web.py", '"strict_budget": {"rate": "3r/s"', '"strict_budget": {"rate": "10r/m"')
    message = settings_error()
    assert "group_data/web.py: sites.shop.limits = {" in message
    assert message.endswith("expected strict_budget.rate (10r/m) at least strict.rate (30r/m), what one client may "
                            "ask alone")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"default": {"rate": "2r/s", "burst": 10, "delay": 5}', '"default": {"rate": "ten per second"}',
         "sites.shop.limits.default.rate = 'ten per second': expected a request rate such as '10r/s' or '600r/m'"),
        ('"limits": {', '"limits": {"strict": {"rate": "10r/h"}, ',
         "sites.shop.limits.strict.rate = '10r/h': expected a request rate"),
        ('"limits": {', '"limits": {"strict": {"delay": "later"}, ',
         "sites.shop.limits.strict.delay = 'later': expected a number of requests (0 or more) or 'nodelay'"),
        ('"default": {"rate": "2r/s", "burst": 10, "delay": 5}', '"default": {"burst": 5, "delay": 8}',
         "sites.shop.limits.default = {'burst': 5, 'delay': 8}: delay = 8: expected at most burst (5) or 'nodelay'"),
        ('"in_flight": 2', '"in_flight": 0',
         "sites.shop.limits.strict_budget.in_flight = 0: expected greater than or equal to 1"),
        ('"limits": {', '"limits": {"connections": 0, ',
         "sites.shop.limits.connections = 0: expected greater than or equal to 1"),
        ('"/wp-login.php", "/xmlrpc.php"', '"/wp-login.php?next=x", "/xmlrpc.php"',
         "sites.shop.limits.strict_paths[0] = '/wp-login.php?next=x': expected a URL path without query"),
        ('"strict_args": ["s"]', '"strict_args": ["s", "post-type"]',
         "sites.shop.limits.strict_args[1] = 'post-type': expected a query argument name"),
        ('"read_timeout": "10s"', '"read_timeout": "ten"',
         "sites.shop.backend.read_timeout = 'ten': expected a duration"),
        ('"read_timeout": "10s"', '"read_timeout": 0',
         "sites.shop.backend.read_timeout = 0: expected greater than or equal to 1"),
        ('"limits": {', '"stale_cache": {"max_size": "lots"}, "limits": {',
         "sites.shop.stale_cache.max_size = 'lots': expected a size such as '10m' or '512k'"),
    ],
)
def test_bad_site_edge_values(project_copy, old, new, expected):
    edit(project_copy / "group_data/web.py", old, new)
    message = settings_error()
    assert f"group_data/web.py: {expected}" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"allow": [', '"allow": ["the office", ', "edge.allow[0] = 'the office': expected an IP address or network"),
        ('"allow": [', '"zone_size": "10 MB", "allow": [', "edge.zone_size = '10 MB': expected a size"),
        ('"allow": [', '"log_level": "loud", "allow": [',
         "edge.log_level = 'loud': expected 'info', 'notice', 'warn' or 'error'"),
        ('"allow": [', '"dryrun": True, "allow": [', "edge.dryrun = True: unknown key; did you mean 'dry_run'?"),
    ],
)
def test_bad_edge_values(project_copy, old, new, expected):
    edit(project_copy / "group_data/web.py", old, new)
    assert f"group_data/web.py: {expected}" in settings_error("inventories/prod.py")


def test_defaults_apply_to_a_site_that_sets_no_limits(project_copy):
    edit(project_copy / "group_data/web.py", '"strict_paths": ["/wp-login.php", "/xmlrpc.php", "/wp-admin"],', "")
    edit(project_copy / "group_data/web.py", '"strict_args": ["s"],', "")
    edit(project_copy / "group_data/web.py", '"allow_listed_paths": ["/wp-cron.php"],', "")
    edit(project_copy / "group_data/web.py", '"strict_budget": {"rate": "3r/s", "burst": 3, "in_flight": 2},', "")
    edit(project_copy / "group_data/web.py", '"default": {"rate": "2r/s", "burst": 10, "delay": 5}' + ",", "")
    site = load_settings("inventories/prod.py")["web1.example.com"].sites["shop"]
    assert site.limits == settings.Limits()


def test_the_caches_are_a_tmpfs_of_their_sizes_and_a_quarter_more(web_settings):
    two = with_site(web_settings, stale_cache={"max_size": "100m"})
    two = two.model_copy(update={"sites": {**two.sites, "blog": settings.Site.model_validate(
        {**two.sites["shop"].model_dump(), "server_names": ["blog.example.com"], "stale_cache": {"max_size": "512k"}})}})
    unit = nginx.cache_mount(two).content
    assert two.cache_memory == (100 * 2**20 + 512 * 2**10) * 5 // 4
    assert f"Where={nginx.CACHE_DIR}\nType=tmpfs\nOptions=size=128640k,mode=0755,nosuid,nodev,noexec\n" in unit
    assert nginx.CACHE_MOUNT == "var-cache-nginx-holdfast.mount"  # systemd's name of a mount at CACHE_DIR
    assert "Before=nginx.service" in unit and "WantedBy=local-fs.target" in unit


@pytest.mark.parametrize(("size", "expected"), [("100", 100), ("512k", 524288), ("10M", 10485760), ("2g", 2 << 30)])
def test_an_nginx_size_in_bytes(size, expected):
    assert forms.nginx_bytes(size) == expected
