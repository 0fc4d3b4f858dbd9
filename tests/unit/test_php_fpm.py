"""PHP-FPM's pool without hosts: the file rendered from the sample data, pm.max_children
from the service's memory, and the group_data a pool is refused for (and accepted with)."""

import pytest

from holdfast import php_fpm, runbook, settings
from holdfast.inventory import read_inventory
from tests.conftest import FLEET, append, fleet_settings, load_settings, settings_error

MiB = php_fpm.MiB
GiB = 1024 * MiB
POOL = "/etc/php/8.2/fpm/pool.d/php-fpm.conf"


@pytest.fixture(scope="module")
def web() -> settings.HostSettings:
    return fleet_settings()["web1"]


def pool_file(host_settings: settings.HostSettings, host_memory: int = 2 * GiB) -> str:
    (files,) = php_fpm.config_files(host_settings, host_memory).values()
    return {file.path: file.content for file in files}[POOL]


def directives(text: str) -> dict[str, str]:
    """The pool file's ``key = value`` lines."""
    pairs = (line.split(" = ", 1) for line in text.splitlines() if " = " in line and not line.startswith(";"))
    return dict(pairs)


def test_sample_pool_listens_where_nginx_sends(web):
    assert directives(pool_file(web))["listen"] == "/run/php/php8.2-fpm.sock"


def test_sample_pool_kills_a_request_when_nginx_stops_waiting(web):
    pool = directives(pool_file(web))
    assert (pool["request_terminate_timeout"], pool["request_slowlog_timeout"]) == ("10s", "5s")


def test_sample_pool_logs_slow_requests_where_the_runbook_says(monkeypatch):
    monkeypatch.chdir(FLEET)
    text = runbook.render_runbook(read_inventory(runbook.DEFAULT_INVENTORY))
    assert "`/var/log/php8.2-fpm/php-fpm.slow.log`" in text


def test_sample_pool_has_the_keys_of_its_section(web):
    pool = directives(pool_file(web))
    assert (pool["pm.max_requests"], pool["listen.backlog"], pool["slowlog"]) == (
        "500", "511", "/var/log/php8.2-fpm/php-fpm.slow.log",
    )


def test_pool_file_opens_with_the_managed_notice(web):
    assert pool_file(web).startswith("; Managed by Holdfast from templates/php_fpm/")


@pytest.mark.parametrize(
    ("host_memory", "children"),
    [(2 * GiB, 6), (256 * MiB, 4)],  # Monit's memory_limit (384M) / 64M; the host's memory / 64M
    ids=["service-memory", "host-memory"],
)
def test_max_children_is_the_service_memory_over_worker_memory(web, host_memory, children):
    pool = directives(pool_file(web, host_memory))
    assert (pool["pm.max_children"], pool["pm.min_spare_servers"]) == (str(children), "1")


def test_max_children_follows_a_slice_percentage_of_the_host(project_copy):
    append(project_copy / "group_data/web.py",
           "slices['web']['MemoryMax'] = '25%'\nslices['web'].pop('MemoryHigh')\n"
           "services['php-fpm']['supervision'].pop('memory_limit')")
    host_settings = load_settings()["web1"]
    assert directives(pool_file(host_settings, 1 * GiB))["pm.max_children"] == "4"  # 256 MiB / 64 MiB


def with_worker_memory(web: settings.HostSettings, worker_memory: int) -> settings.HostSettings:
    """``web`` with another worker_memory for its pool."""
    service = web.services["php-fpm"]
    pool = service.php_fpm.model_copy(update={"worker_memory": worker_memory})
    return web.model_copy(update={"services": {"php-fpm": service.model_copy(update={"php_fpm": pool})}})


def test_pools_are_by_php_version_and_named_for_their_service(web):
    by_version = php_fpm.config_files(web, 2 * GiB)
    assert list(by_version) == ["8.2"] and "\n[php-fpm]\n" in by_version["8.2"][0].content


def test_spare_workers_are_a_quarter_and_a_half_of_max_children(web):
    pool = directives(pool_file(with_worker_memory(web, 48 * MiB)))  # 384M of service memory: 8 workers
    assert [pool[key] for key in ("pm.max_children", "pm.start_servers", "pm.min_spare_servers",
                                  "pm.max_spare_servers")] == ["8", "2", "2", "4"]


def test_a_refusal_names_the_memory_it_counted(project_copy):
    append(project_copy / "group_data/web.py",
           "slices['web']['MemoryMax'] = '10%'\nslices['web'].pop('MemoryHigh')\n"
           "services['php-fpm']['supervision'].pop('memory_limit')\n"
           "services['php-fpm']['php_fpm']['worker_memory'] = '128M'")
    [(_, _, message)] = php_fpm.pool_problems(load_settings()["web1"], 1 * GiB)
    assert message == ("expected at most the service's memory on this host (102 MiB: slice web's MemoryMax, "
                       "supervision.memory_limit, the host's 1024 MiB): not one worker fits")


def test_spare_workers_stay_within_max_children(web):
    pool = {key: int(value) for key, value in directives(pool_file(web)).items() if key.startswith("pm.") and
            value.isdigit() and key != "pm.max_requests"}
    assert pool["pm.min_spare_servers"] <= pool["pm.start_servers"] <= pool["pm.max_spare_servers"] <= (
        pool["pm.max_children"])


# --- refused, and accepted ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("services['php-fpm']['php_fpm']['request_terminate_timeout'] = '11s'",
         "group_data/web.py: services.php-fpm.php_fpm.request_terminate_timeout = 11: expected at most "
         "sites.shop.backend.read_timeout (10s): nginx would answer the visitor while the worker keeps running"),
        ("services['php-fpm']['php_fpm']['request_slowlog_timeout'] = '10s'",
         "expected request_slowlog_timeout (10s) less than request_terminate_timeout (10s)"),
        ("services['php-fpm']['php_fpm']['worker_memory'] = '64MB'",
         "services.php-fpm.php_fpm.worker_memory = '64MB': expected a size"),
        ("services['php-fpm']['php_fpm']['max_requests'] = -1", "services.php-fpm.php_fpm.max_requests = -1"),
        ("services['php-fpm']['php_fpm']['user'] = 'www-data\\nphp_admin_value[open_basedir] = /'",
         "services.php-fpm.php_fpm.user = 'www-data\\nphp_admin_value[open_basedir] = /': expected a system user name"),
        ("services['php-fpm']['request_timeout'] = '5s'",
         "services.php-fpm.request_timeout = 5: expected None with a php_fpm section (its request_terminate_timeout is "
         "the app's)"),
        ("services['php-fpm']['unit'] = 'php.service'",
         "services.php-fpm.unit = 'php.service': expected php<X.Y>-fpm.service with a php_fpm section"),
        ("sites['shop']['backend']['service'] = 'other'\nservices['other'] = services['php-fpm'] | {'php_fpm': None, "
         "'unit': 'other.service'}",
         "services.php-fpm.php_fpm = 'no FastCGI site': expected the FastCGI sites of this service to share one "
         "backend.address"),
        ("sites['blog'] = sites['shop'] | {'server_names': ['blog.example.com'], 'backend': sites['shop']['backend'] | "
         "{'address': '127.0.0.1:9001'}}",
         "services.php-fpm.php_fpm = {'shop': 'unix:/run/php/php8.2-fpm.sock', 'blog': '127.0.0.1:9001'}: expected "
         "the FastCGI sites of this service to share one backend.address"),
        # A service without a pool first: the pools after it are still checked.
        ("services = {'mariadb': services['mariadb'], **services}\n"
         "services['php-fpm']['unit'] = 'php.service'",
         "services.php-fpm.unit = 'php.service': expected php<X.Y>-fpm.service with a php_fpm section"),
    ],
    ids=["timeout-above-nginx", "slowlog-not-before-kill", "bad-size", "negative-max-requests", "user-injection",
         "two-timeouts", "not-php-fpm", "no-site", "two-addresses", "after-a-service-without-a-pool"],
)
def test_bad_pool_is_refused_naming_file_and_key(project_copy, line, expected):
    append(project_copy / "group_data/web.py", line)
    assert expected in settings_error()


@pytest.mark.parametrize(
    "line",
    ["services['php-fpm']['php_fpm']['request_terminate_timeout'] = '9s'",
     "services['php-fpm']['php_fpm'] = {}\nsites['shop']['backend']['read_timeout'] = '30s'"],
    ids=["timeout-below-nginx", "defaults-with-nginx-default"],
)
def test_pool_within_nginx_timeout_is_accepted(project_copy, line):
    append(project_copy / "group_data/web.py", line)
    assert load_settings()["web1"].services["php-fpm"].php_fpm


@pytest.mark.parametrize(
    ("worker_memory", "host_memory", "refused"),
    [(384 * MiB, 2 * GiB, False), (385 * MiB, 2 * GiB, True), (64 * MiB, 63 * MiB, True)],
    ids=["one-worker-fits", "above-the-service-memory", "above-the-host-memory"],
)
def test_a_pool_without_room_for_one_worker_is_refused(web, worker_memory, host_memory, refused):
    problems = php_fpm.pool_problems(with_worker_memory(web, worker_memory), host_memory)
    assert [loc for loc, _, _ in problems] == ([("services", "php-fpm", "php_fpm", "worker_memory")] if refused else [])


# --- pools Holdfast did not write ----------------------------------------------------------

POOL_DIR = "/etc/php/8.2/fpm/pool.d"


@pytest.mark.parametrize(
    ("found", "managed", "stock", "replaced", "kept"),
    [
        ([f"{POOL_DIR}/www.conf"], [], [f"{POOL_DIR}/www.conf"], [f"{POOL_DIR}/www.conf"], []),
        ([f"{POOL_DIR}/www.conf"], [], [], [], [f"{POOL_DIR}/www.conf"]),
        ([f"{POOL_DIR}/blog.conf"], [], [], [], [f"{POOL_DIR}/blog.conf"]),
        ([f"{POOL_DIR}/old.conf"], [f"{POOL_DIR}/old.conf"], [], [f"{POOL_DIR}/old.conf"], []),
        ([POOL], [POOL], [], [], []),
    ],
    ids=["debian-default-unchanged", "debian-default-edited", "someone-elses", "holdfasts-earlier", "ours"],
)
def test_only_the_unchanged_default_and_holdfasts_own_pools_are_replaced(found, managed, stock, replaced, kept):
    assert php_fpm.foreign_pools({POOL}, found, managed, stock) == (replaced, kept)
