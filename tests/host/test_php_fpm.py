"""PHP-FPM's pool under Holdfast: the deployed pool is the only one and PHP-FPM accepts it;
with the seed's loop bug armed for good (`standin arm-loop persistent`), PHP-FPM kills the
looping worker within its request timeout, the service is not restarted, other requests
keep being served, and the slow log holds the loop's PHP stack; a pool PHP-FPM refuses
never goes live."""

import hashlib
import re
import time

import pytest

from holdfast import monit, php_fpm
from lab.harness.deploys import fingerprint_command, run_deploy
from lab.harness.faults import DELIVERY, StandIn, unsupervised
from lab.harness.probes import Mailboxes, fastcgi, fastcgi_command, wait_for
from tests.conftest import copy_project, edit

pytestmark = pytest.mark.hosts("web")

FPM_LOG = "/var/log/php8.2-fpm.log"
# The slow log is read back from the heartbeat after the kill: PHP-FPM checks its
# timeouts about three times per request_slowlog_timeout.
SLACK = 3


@pytest.fixture(scope="module")
def pool(settings):
    """(service name, service) of the stand-in's pool."""
    pools = php_fpm.pools(settings)
    if not pools:
        pytest.skip("no service with a php_fpm section")
    name = next(iter(pools))
    return name, pools[name]


@pytest.fixture(scope="module")
def pool_files(host, settings):
    """The pool files the deploy wrote, rendered for this host's memory as pyinfra reads it."""
    memory = int(host.check_output("vmstat -s | awk '/total memory/ {print $1}'")) // 1024 * php_fpm.MiB
    (files,) = php_fpm.config_files(settings, memory).values()
    return files


def test_only_holdfast_pools_are_live(host, pool_files):
    live = host.check_output(f"ls {php_fpm.pool_dir('8.2')}/*.conf").split()
    assert sorted(live) == sorted(file.path for file in pool_files)


def test_live_pool_is_the_deployed_one(host, pool_files):
    assert {file.path: host.file(file.path).sha256sum for file in pool_files} == {
        file.path: hashlib.sha256(file.content.encode()).hexdigest() for file in pool_files
    }


def test_php_fpm_accepts_the_live_pool(host):
    assert host.run("php-fpm8.2 -t").rc == 0


def test_slow_log_is_root_and_adm_only(host, pool):
    log = host.file(php_fpm.slowlog(*pool))
    assert (log.user, log.group, oct(log.mode)) == ("root", "adm", "0o640")


# --- the persistent loop bug (lab only) -----------------------------------------------


def loop_request_command(site, path: str) -> str:
    """A shell command on the host: one FastCGI request for ``path``, in the background,
    printing its start and end times (seconds since the epoch) to /tmp/loop-request."""
    request = f"{fastcgi_command(site, path, 120)} >/dev/null 2>&1"
    return (f"rm -f /tmp/loop-request; nohup sh -c \"start=\\$(date +%s.%N); {request}; "
            f"echo \\$start \\$(date +%s.%N) > /tmp/loop-request\" >/dev/null 2>&1 &")


@pytest.fixture(scope="module")
def persistent_loop(host, settings, site, pool, relay):
    """The armed search looping in one worker: the master PID before and after, how long the
    looping request ran, what PHP-FPM logged, the slow log's new lines, and the answers to
    other requests while it looped."""
    name, service = pool
    standin = StandIn.of(host, settings)
    log_size = int(host.check_output(f"stat -c %s {FPM_LOG}"))
    slow_size = int(host.check_output(f"stat -c %s {php_fpm.slowlog(name, service)}"))
    timeout = service.php_fpm.request_terminate_timeout
    try:
        # Held off so that only PHP-FPM acts here (Monit's CPU rule is the backstop behind
        # the pool's timeout).
        with unsupervised(host, settings):
            tier1 = Mailboxes(relay, settings.escalation.tier_emails(settings.monit.alert_tier))
            master = standin.main_pid()
            host.check_output("standin arm-loop persistent")
            host.check_output(loop_request_command(site, "/?s=loop"))
            others = []
            deadline = time.monotonic() + timeout + SLACK + 5
            while time.monotonic() < deadline and not host.file("/tmp/loop-request").exists:
                others.append(site.content_expect in fastcgi(host, site, site.content_path))
                time.sleep(1)
            start, end = map(float, host.check_output("cat /tmp/loop-request || echo 0 0").split())
            after = standin.main_pid()
            wait_for(lambda: host.file(php_fpm.slowlog(name, service)).size > slow_size, timeout=SLACK)
            # Monit's check of PHP-FPM's log (it stays on: only the process check is held off).
            kill_alert = f"[{standin.host_name}] {monit.timeouts_check_name(name)}: Content match"
            wait_for(lambda: not tier1.waiting_for(kill_alert), timeout=2 * settings.monit.cycle + DELIVERY)
            return {
                "master": (master, after),
                "seconds": round(end - start, 1),
                "log": host.check_output(f"tail -c +{log_size + 1} {FPM_LOG}"),
                "slow": host.check_output(f"tail -c +{slow_size + 1} {php_fpm.slowlog(name, service)}"),
                "others": others,
                "timeout": timeout,
                "not_alerted": tier1.waiting_for(kill_alert),
            }
    finally:
        host.run("standin heal")


@pytest.mark.disruptive
def test_looping_worker_is_killed_within_its_timeout(persistent_loop):
    print(f"looping request ended after {persistent_loop['seconds']} s")
    assert persistent_loop["timeout"] <= persistent_loop["seconds"] <= persistent_loop["timeout"] + SLACK


@pytest.mark.disruptive
def test_php_fpm_says_it_killed_the_request(persistent_loop):
    assert re.search(r"execution timed out \([\d.]+ sec\), terminating", persistent_loop["log"])


@pytest.mark.disruptive
def test_the_service_is_not_restarted(persistent_loop):
    master, after = persistent_loop["master"]
    assert master and after == master


@pytest.mark.disruptive
def test_other_requests_are_served_while_it_loops(persistent_loop):
    assert persistent_loop["others"] and all(persistent_loop["others"])


@pytest.mark.disruptive
def test_slow_log_holds_the_loops_php_stack(persistent_loop, site):
    # The seed's bug as WordPress runs it: the must-use plugin's hook, called by WP_Query's
    # get_posts (each line: a function, and where it was called).
    root = re.escape(site.root)
    assert re.search(rf"standin_busy_loop\(\) {root}/wp-content/mu-plugins/standin\.php:\d+\n"
                     rf"(.*\n)*?.*get_posts\(\) {root}/wp-includes/class-wp-query\.php:\d+", persistent_loop["slow"])


# --- a pool PHP-FPM refuses (lab only) ----------------------------------------------------


LIVE_POOLS = fingerprint_command("/etc/php")


@pytest.fixture(scope="module")
def rejected_deploy(pytestconfig, host, target, tmp_path_factory):
    """A deploy to this host whose pool PHP-FPM refuses (workers of a user that does not
    exist), with the live pools and the master PID before it."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    edit(project / "group_data/web.py", '"worker_memory": "64M",', '"worker_memory": "64M", "user": "no-such-user",')
    before = host.check_output(LIVE_POOLS), StandIn.of(host, target.settings).main_pid()
    run = run_deploy(pytestconfig.getoption("inventory"), "--limit", target.name, cwd=project)
    return run, before


@pytest.mark.disruptive
def test_rejected_pool_fails_the_deploy_with_php_fpm_text(rejected_deploy):
    run, _ = rejected_deploy
    assert run.returncode != 0 and "no-such-user" in run.output, run.output[-2000:]


@pytest.mark.disruptive
def test_rejected_pool_never_goes_live(rejected_deploy, host, target):
    _, (pools, master) = rejected_deploy
    assert (host.check_output(LIVE_POOLS), StandIn.of(host, target.settings).main_pid()) == (pools, master)


# --- a pool someone else wrote (lab only) -------------------------------------------------

OTHER_POOL = "/etc/php/8.2/fpm/pool.d/zz-other.conf"


@pytest.fixture(scope="module")
def other_pool_deploy(pytestconfig, host, target):
    """A deploy to this host while a pool Holdfast did not write (its own socket) is there."""
    host.run(f"printf '[other]\\nuser = www-data\\ngroup = www-data\\nlisten = /run/php/other.sock\\n"
             f"pm = static\\npm.max_children = 1\\n' > {OTHER_POOL}")
    try:
        yield run_deploy(pytestconfig.getoption("inventory"), "--limit", target.name), host.file(OTHER_POOL).exists
    finally:
        host.run(f"rm -f {OTHER_POOL}")


@pytest.mark.disruptive
def test_a_pool_holdfast_did_not_write_is_kept(other_pool_deploy):
    run, kept = other_pool_deploy
    assert (run.returncode, kept) == (0, True), run.output[-2000:]


@pytest.mark.disruptive
def test_tier1_is_told_of_the_killed_request(persistent_loop):
    assert persistent_loop["not_alerted"] == []
