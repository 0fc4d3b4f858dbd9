"""The WordPress-aware edge (lab only): tracking arguments do not split the cache, private
cookies never meet it, wp-cron.php is for the allow-listed sources only, and a full disk
does not stop the cache."""

import secrets
from contextlib import contextmanager

import pytest

from holdfast import nginx
from lab.acme import curl_arguments
from lab.harness import traffic
from lab.harness.faults import full_disk, unsupervised
from lab.topology import LAB

pytestmark = [pytest.mark.hosts("web"), pytest.mark.disruptive]


@contextmanager
def frozen_backend(host, settings, site):
    """Every process of the site's service stopped (SIGSTOP): nothing reaches PHP meanwhile.
    Monit leaves it alone; it is thawed (SIGCONT) on the way out."""
    unit = settings.services[site.backend.service].unit
    pids = f"$(systemctl show -p ControlGroup --value {unit} | xargs -I@ cat /sys/fs/cgroup/systemd@/cgroup.procs)"
    with unsupervised(host, settings):
        host.check_output(f"kill -STOP {pids}")
        try:
            yield
        finally:
            host.check_output(f"kill -CONT {pids}")


def visit(target, site, path: str, timeout: float = 5, **headers) -> traffic.Answer:
    return traffic.request(LAB.client_addresses["visitor"], target.address, site.server_names[0], path,
                           timeout=timeout, headers=headers, tls=bool(site.tls))


def test_a_new_tracking_argument_is_served_from_the_cache(host, target, settings, site):
    if not site.stale_cache or "fbclid" not in site.stale_cache.ignored_args:
        pytest.skip("fbclid is not left out of this site's cache key")
    assert visit(target, site, site.content_path, timeout=30).status == 200  # cached now, fresh for stale_cache.valid
    with frozen_backend(host, settings, site):
        answer = visit(target, site, f"{site.content_path}?fbclid={secrets.token_hex(8)}", timeout=3)
    assert (answer.status, site.content_expect in answer.body) == (200, True)


def test_a_page_new_to_the_cache_is_served_while_the_disk_is_full(host, target, site):
    # The caches are in memory: on disk, nginx could not store the page and would drop it.
    if not site.stale_cache:
        pytest.skip("no cache for this site")
    assert host.mount_point(nginx.CACHE_DIR).filesystem == "tmpfs"
    with full_disk(host):
        answer = visit(target, site, f"{site.content_path}?ref={secrets.token_hex(8)}", timeout=10)
    assert (answer.status, site.content_expect in answer.body) == (200, True)


def test_a_private_cookie_never_gets_the_cached_page(host, target, settings, site):
    if not site.stale_cache or not site.stale_cache.private_cookies:
        pytest.skip("no private cookies for this site")
    cookie = f"{site.stale_cache.private_cookies[0]}test=1"
    assert visit(target, site, site.content_path, timeout=30).status == 200
    with frozen_backend(host, settings, site):
        private = visit(target, site, site.content_path, timeout=3, Cookie=cookie)
        other = visit(target, site, site.content_path, timeout=3, Cookie="_ga=GA1.2.3")
    assert (private.status, other.status, site.content_expect in other.body) == (0, 200, True)


def test_wp_cron_is_for_allow_listed_sources_only(host, target, site):
    if "/wp-cron.php" not in site.limits.allow_listed_paths:
        pytest.skip("wp-cron.php is not allow-listed here")
    assert visit(target, site, "/wp-cron.php").status == 403
    wp_cron = curl_arguments(site.server_names[0], "127.0.0.1", "/wp-cron.php", bool(site.tls))
    assert host.check_output(f"curl -s -m 30 -o /dev/null -w '%{{http_code}}' {wp_cron}") == "200"
