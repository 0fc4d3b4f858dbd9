"""The database's replication on the lab (holdfast/replication.py): the standby's MariaDB
replicates the primary's by GTID, read-only, and catches up by itself after a restart."""

import secrets
import shlex

import pytest

from lab.harness.probes import wait_for
from lab.wordpress import database_name

pytestmark = pytest.mark.disruptive

PROBE = "holdfast_probe"  # a database of the test's own, made on the primary


@pytest.fixture(scope="module")
def pair(targets):
    """(primary, replica): testinfra hosts of failover.database.primary and another web host."""
    web = [target for target in targets.values() if "web" in target.groups]
    database = web[0].settings.failover.database if web else None
    if database is None or len(web) < 2:
        pytest.skip("no replicated database here")
    replica = next(target for target in web if target.name != database.primary)
    return targets[database.primary].testinfra, replica.testinfra


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
    replica.check_output("systemctl stop mariadb")  # Monit would restart it: this is quicker
    try:
        value = written(primary)
    finally:
        replica.check_output("systemctl start mariadb")
    assert arrives(replica, value, timeout=30)
