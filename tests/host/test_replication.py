"""The database's replication on the lab (holdfast/replication.py): the standby's MariaDB
replicates the primary's by GTID, read-only, and catches up by itself after a restart; the
standby's nginx answers what would write with the read-only page."""

import secrets
import shlex

import pytest

from holdfast import nginx
from lab.acme import curl_arguments
from lab.harness.faults import monit_off
from lab.harness.probes import wait_for
from lab.wordpress import database_name

pytestmark = pytest.mark.disruptive

PROBE = "holdfast_probe"  # a database of the test's own, made on the primary


@pytest.fixture(scope="module")
def replicated(targets):
    """(primary, replica): the targets of failover.database.primary and another web host."""
    web = [target for target in targets.values() if "web" in target.groups]
    database = web[0].settings.failover.database if web else None
    if database is None or len(web) < 2:
        pytest.skip("no replicated database here")
    return targets[database.primary], next(target for target in web if target.name != database.primary)


@pytest.fixture(scope="module")
def pair(replicated):
    """(primary, replica) as testinfra hosts; the test's database dropped after (replicated too)."""
    yield tuple(target.testinfra for target in replicated)
    replicated[0].testinfra.check_output(f"mariadb -e 'DROP DATABASE IF EXISTS {PROBE}'")


def sql(host, statement: str) -> str:
    return host.check_output(f"mariadb -N -e {shlex.quote(statement)}")


def slave_status(host) -> dict[str, str]:
    lines = host.check_output("mariadb -e 'SHOW SLAVE STATUS\\G'").splitlines()
    return {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines[1:])}


def written(primary) -> str:
    """A new row written on the primary: its value."""
    value = secrets.token_hex(8)
    sql(primary, f"CREATE DATABASE IF NOT EXISTS {PROBE}; "
                 f"CREATE TABLE IF NOT EXISTS {PROBE}.rows (value VARCHAR(32) PRIMARY KEY); "
                 f"INSERT INTO {PROBE}.rows VALUES ('{value}')")
    return value


def arrives(replica, value: str, timeout: float = 10) -> bool:
    """Whether the row of ``value`` is on the replica within ``timeout`` seconds."""
    query = f"mariadb -N -e {shlex.quote(f'SELECT COUNT(*) FROM {PROBE}.rows WHERE value = {value!r}')}"
    return bool(wait_for(lambda: replica.run(query).stdout.strip() == "1", timeout=timeout))


def test_the_replica_replicates_the_primary_by_gtid(pair):
    primary, replica = pair
    status = slave_status(replica)
    assert (status["Slave_IO_Running"], status["Slave_SQL_Running"], status["Using_Gtid"]) == ("Yes", "Yes", "Slave_Pos")
    assert arrives(replica, written(primary))


def test_the_replica_is_read_only_and_the_primary_is_not(pair):
    primary, replica = pair
    assert (sql(primary, "SELECT @@read_only"), sql(replica, "SELECT @@read_only")) == ("0", "1")
    # The site's own user (not root, who may) cannot write there.
    site_user = database_name("shop")  # the lab's WordPress (lab/wordpress.py)
    refused = replica.run(f"mariadb -u {site_user} -p\"$(cat /etc/wordpress/shop.db-password)\" -e "
                          f"'CREATE TABLE {site_user}.holdfast_write (id INT)'")
    assert refused.rc != 0 and "read-only" in refused.stderr


def test_a_replica_restarted_catches_up_by_itself(pair):
    primary, replica = pair
    # Monit left out: its restart, racing the test's start, sent SIGTERM to a MariaDB still
    # starting, which then hung (and the test with it).
    with monit_off(replica, "mariadb"):
        replica.check_output("systemctl stop mariadb")
        try:
            value = written(primary)
        finally:
            replica.check_output("timeout 120 systemctl start mariadb")
    assert arrives(replica, value, timeout=30)


@pytest.mark.parametrize(("method", "path"), [("POST", "/wp-comments-post.php"), ("GET", "/wp-login.php"),
                                              ("POST", "/")], ids=["a-comment", "the-log-in", "any-post"])
def test_what_would_write_on_the_replica_gets_the_read_only_page(replicated, method, path):
    primary, replica = replicated
    [(name, site)] = replica.settings.sites.items()
    ask = f"curl -s -m 10 -X {method} -d comment=hello -D - {curl_arguments(site.server_names[0], '127.0.0.1', path, bool(site.tls))}"
    answer = replica.testinfra.check_output(ask)
    assert answer.startswith("HTTP/") and answer.split()[1] == "503"
    assert "retry-after: 300" in answer.lower() and nginx.READ_ONLY_TITLE in answer
    # The primary takes them to WordPress.
    assert nginx.READ_ONLY_TITLE not in primary.testinfra.check_output(ask)


def test_the_replica_serves_the_site_s_pages(replicated):
    _, replica = replicated
    [(name, site)] = replica.settings.sites.items()
    page = curl_arguments(site.server_names[0], "127.0.0.1", site.content_path, bool(site.tls))
    assert site.content_expect in replica.testinfra.check_output(f"curl -s -m 10 {page}")
