"""nginx at the edge: every site served as a visitor reaches it, limits that hold under real
traffic from the lab's own addresses, allow-listed sources never limited, a fallback page
in time when the backend loops or hangs, and a rejected configuration that never goes live.

Traffic comes from the addresses the lab puts on its bridge (lab/topology.py), one per
test client, so one client's limits never spill into another's test.
"""

import hashlib
import html
import ipaddress
import time
from collections import Counter

import pytest

from holdfast import nginx, replication
from holdfast.inventory import monitor_addresses
from lab.acme import curl_arguments
from lab.harness import traffic
from lab.harness.deploys import fingerprint_command, run_deploy
from lab.harness.faults import StandIn, hang_every_worker, unsupervised
from lab.topology import LAB
from tests.conftest import copy_project, edit

pytestmark = pytest.mark.hosts("web")

CLASSES = ("default", "strict")
# A search loops forever once `standin arm-loop` armed it: the seed's bug
# (lab/templates/site/standin.php.j2).
ARMED_LOOP_PATH = "/?s=loop"
LIVE_CONFIG = fingerprint_command("/etc/nginx")


def site_url(site, address: str, path: str) -> str:
    """curl's arguments for ``path`` of ``site`` (by its canonical name) at ``address``."""
    return curl_arguments(site.server_names[0], address, path, bool(site.tls))


def get(host, site, path: str) -> str:
    """The body nginx on ``host`` answers for ``path`` of ``site``."""
    return host.check_output(f"curl -sS -m 5 {site_url(site, '127.0.0.1', path)}")


def test_nginx_is_running_and_enabled(host):
    nginx_service = host.service("nginx")
    assert nginx_service.is_running and nginx_service.is_enabled


def test_live_configuration_is_valid(host):
    assert host.run("nginx -t").rc == 0


def test_live_configuration_is_the_deployed_one(host, target, settings):
    inventory = target.pyinfra_host.inventory
    wanted = nginx.config_files(settings, monitor_addresses(inventory), nginx.acme_peers(inventory, target.name),
                                read_only=replication.is_replica(target.name, settings))
    live = {file.path: host.file(file.path).sha256sum if host.file(file.path).exists else None for file in wanted}
    assert live == {file.path: hashlib.sha256(file.content.encode()).hexdigest() for file in wanted}


def test_site_serves_its_content(host, site):
    assert site.content_expect in get(host, site, site.content_path)


def test_site_answers_its_health_path(host, site):
    assert site.health_expect in get(host, site, site.health_path)


def test_unknown_host_names_get_no_answer(host):
    assert host.run("curl -sS -m 5 -H 'Host: not-a-site.invalid' http://127.0.0.1/").rc == 52  # empty reply


# --- under real traffic (lab only) ----------------------------------------------------


@pytest.fixture
def address(target) -> str:
    return target.address


def class_path(site, class_name: str) -> str:
    return site.content_path if class_name == "default" else site.limits.strict_paths[0]


def flood_size(limit) -> tuple[int, float]:
    """(requests, per second) well over a class's limit: twice its burst and ten more, at four
    times its rate (20 a second at least)."""
    return 2 * (limit.burst + 5), max(4 * limit.per_second, 20)


def flood(source: str, address: str, site, class_name: str) -> list[traffic.Answer]:
    count, per_second = flood_size(getattr(site.limits, class_name))
    return traffic.paced(source, address, site.server_names[0], class_path(site, class_name), count, per_second,
                         tls=bool(site.tls))


@pytest.mark.disruptive
@pytest.mark.parametrize("class_name", CLASSES)
def test_client_over_rate_and_burst_gets_429(site, address, class_name):
    answers = flood(LAB.client_addresses["attacker"], address, site, class_name)
    assert 429 in {answer.status for answer in answers}


@pytest.mark.disruptive
@pytest.mark.parametrize("class_name", CLASSES)
def test_limit_admits_no_more_than_rate_and_burst(site, address, class_name):
    limit = getattr(site.limits, class_name)
    count, per_second = flood_size(limit)
    answers = flood(LAB.client_addresses["attacker"], address, site, class_name)
    admitted = sum(answer.status == 200 for answer in answers)
    # The burst, the first request, what the rate frees while the flood lasts, one of slack.
    assert admitted <= limit.burst + 1 + int(limit.per_second * count / per_second) + 1


@pytest.mark.disruptive
@pytest.mark.parametrize("class_name", CLASSES)
def test_429_says_when_to_retry(site, address, class_name):
    answers = flood(LAB.client_addresses["attacker"], address, site, class_name)
    retry_after = {answer.headers.get("Retry-After") for answer in answers if answer.status == 429}
    assert retry_after == {str(getattr(site.limits, class_name).retry_after)}


@pytest.mark.disruptive
@pytest.mark.parametrize("class_name", CLASSES)
def test_client_under_the_rate_never_gets_429(site, address, class_name):
    # At 80 % of the rate for twice the time the burst lasts: a limiter that counted any
    # request twice (e.g. again after an internal redirect) would reject some of these.
    limit = getattr(site.limits, class_name)
    per_second = 0.8 * limit.per_second
    count = max(10, int(2 * limit.burst / limit.per_second * per_second))
    answers = traffic.paced(
        LAB.client_addresses["visitor"], address, site.server_names[0], class_path(site, class_name), count, per_second,
        tls=bool(site.tls),
    )
    assert Counter(answer.status for answer in answers) == {200: count}


@pytest.mark.disruptive
def test_connection_limit_holds(site, address):
    # Requests that announce a body and never send it stay in progress; paced under the
    # rate so that only the connection limit can answer 429.
    connections, extra = site.limits.connections, 3
    statuses = traffic.held_requests(
        LAB.client_addresses["visitor2"], address, site.server_names[0], site.content_path,
        count=connections + extra, per_second=0.8 * site.limits.default.per_second, tls=bool(site.tls),
    )
    assert Counter(statuses) == {0: connections, 429: extra}


def office_address(settings) -> str:
    """A lab client address that edge.allow lists (the lab's "office")."""
    allowed = [ipaddress.ip_network(network) for network in settings.edge.allow]
    for address in LAB.client_addresses.values():
        if any(ipaddress.ip_address(address) in network for network in allowed):
            return address
    pytest.skip("edge.allow lists none of the lab's client addresses")


def curl_flood(host, site, address: str, path: str, count: int) -> Counter:
    """Status counts of ``count`` requests for ``path`` of ``site`` at ``address`` sent by curl
    on ``host``, 4 at a time."""
    codes = host.check_output(
        f"curl -s -m 10 -Z --parallel-max 4 -o /dev/null -w '%{{http_code}}\\n' "
        f"{site_url(site, address, f'{path}?n=[1-{count}]')}"
    )
    return Counter(map(int, codes.split()))


def allow_listed_flood(source: str, host, settings, targets, site, address, class_name) -> Counter:
    """Status counts of a flood of the class from ``source``: the office (from the
    machine), the monitors host, or the web host itself (loopback)."""
    count, per_second = flood_size(getattr(site.limits, class_name))
    path = class_path(site, class_name)
    if source == "office":
        answers = traffic.paced(office_address(settings), address, site.server_names[0], path, count, per_second,
                                tls=bool(site.tls))
        return Counter(answer.status for answer in answers)
    if source == "loopback":
        return curl_flood(host, site, "127.0.0.1", path, count)
    monitors = [target.testinfra for target in targets.values() if "monitors" in target.groups]
    if not monitors:
        pytest.skip("no monitors host in the inventory")
    return curl_flood(monitors[0], site, address, path, count)


@pytest.mark.disruptive
@pytest.mark.parametrize("class_name", CLASSES)
@pytest.mark.parametrize("source", ["office", "monitors host", "loopback"])
def test_allow_listed_source_is_never_limited(host, settings, targets, site, address, source, class_name):
    statuses = allow_listed_flood(source, host, settings, targets, site, address, class_name)
    assert statuses == {200: flood_size(getattr(site.limits, class_name))[0]}


# --- a backend that loops or hangs (lab only) -----------------------------------------


@pytest.fixture(scope="module", params=["hung", "health while hung", "looping"])
def stuck_answer(request, host, site, target):
    """What a visitor gets through nginx while the backend is hung (every worker asleep) or
    loops (the armed search): the answer to one request, with the seconds it took. The
    health path is asked for once before the hang: were it ever cached, the hung backend's
    answer would come from that copy. The backend is healed before the tests look."""
    visitor = LAB.client_addresses["visitor"]
    try:
        with unsupervised(host, target.settings):  # Monit would restart the stuck backend meanwhile
            if request.param == "hung":
                hang_every_worker(StandIn.of(host, target.settings), site)
                path = f"{site.content_path}?never-cached={time.time()}"
            elif request.param == "health while hung":
                path = site.health_path
                assert site.health_expect in traffic.request(visitor, target.address, site.server_names[0], path,
                                                             tls=bool(site.tls)).body
                hang_every_worker(StandIn.of(host, target.settings), site)
            else:
                host.check_output("standin arm-loop")
                path = ARMED_LOOP_PATH
            timeout = site.backend.read_timeout + 20
            return traffic.request(visitor, target.address, site.server_names[0], path, timeout=timeout,
                                   tls=bool(site.tls))
    finally:
        host.run("standin heal")


@pytest.mark.disruptive
def test_stuck_backend_is_answered_when_the_timeout_ends(stuck_answer, site):
    """Not before (an answer sooner did not wait for the backend), not much after."""
    timeout = site.backend.read_timeout
    assert stuck_answer.status == 504 and timeout - 0.5 <= stuck_answer.seconds <= timeout + 2, stuck_answer


@pytest.mark.disruptive
def test_stuck_backend_is_answered_with_the_fallback_page(stuck_answer, site):
    assert (stuck_answer.status, site.fallback.title in html.unescape(stuck_answer.body)) == (504, True)


@pytest.fixture(scope="module")
def stale_answer(target, site) -> traffic.Answer:
    """What a visitor gets for a site's content page while its backend hangs, once the page
    is older than the cache keeps it fresh (sites with a stale cache)."""
    if not site.stale_cache:
        pytest.skip("no stale cache for this site")
    visit = (LAB.client_addresses["visitor"], target.address, site.server_names[0], site.content_path)
    try:
        with unsupervised(target.testinfra, target.settings):
            traffic.request(*visit, tls=bool(site.tls))
            hang_every_worker(StandIn.of(target.testinfra, target.settings), site)
            time.sleep(site.stale_cache.valid + 1)
            return traffic.request(*visit, timeout=site.backend.read_timeout + 20, tls=bool(site.tls))
    finally:
        target.testinfra.run("standin heal")


@pytest.mark.disruptive
def test_stale_cache_answers_while_the_backend_hangs(stale_answer, site):
    assert (stale_answer.status, site.content_expect in stale_answer.body) == (200, True)


# --- a configuration nginx refuses (lab only) -----------------------------------------


@pytest.fixture(scope="module")
def rejected_deploy(pytestconfig, targets, tmp_path_factory):
    """A deploy whose group_data renders a configuration nginx refuses (a limit zone smaller
    than nginx allows), with the live configuration of each web host before it."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    edit(project / "group_data/lab.py", '"allow": [', '"zone_size": "16k",\n    "allow": [')
    web = {name: target.testinfra for name, target in targets.items() if "web" in target.groups}
    before = {name: host.check_output(LIVE_CONFIG) for name, host in web.items()}
    return run_deploy(pytestconfig.getoption("inventory"), cwd=project), before


@pytest.mark.disruptive
def test_rejected_configuration_fails_the_deploy_with_nginx_text(rejected_deploy):
    run, _ = rejected_deploy
    assert run.returncode != 0 and "is too small in /etc/nginx/" in run.output


@pytest.mark.disruptive
def test_rejected_configuration_leaves_the_live_one(rejected_deploy, host, target):
    _, before = rejected_deploy
    assert host.check_output(LIVE_CONFIG) == before[target.name]


@pytest.mark.disruptive
def test_nginx_serves_on_after_a_rejected_configuration(rejected_deploy, host, site):
    assert site.content_expect in get(host, site, site.content_path)
