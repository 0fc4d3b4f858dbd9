"""MariaDB replicated between the web hosts (``failover.database``), so that the host the
site's address moves to has the site's data.

The primary logs every write with its GTID; every other web host is a read-only replica
of it. A replica starts from a copy of the primary's databases (not MariaDB's own: each
host keeps its accounts), taken at one GTID position, then replays the primary's log from
there, reconnecting by itself. The replication user's password comes from the deploy's
environment, lives on the hosts in a root-only file, and never appears on a command line.
Promoting a replica is a person's decision (the runbook's), never automatic: two primaries
would split the site's data.
"""

import ipaddress
import os

from pyinfra import host
from pyinfra.api import StringCommand, deploy
from pyinfra.operations import server

from holdfast import failover, loading, planning, settings
from holdfast.facts import MariadbReplica
from holdfast.safe_config import STATE_DIR, ConfigFile, validated_config
from holdfast.templates import render

PACKAGES = ()  # MariaDB is the site's own
SERVER_CONFIG = "/etc/mysql/mariadb.conf.d/60-holdfast-replication.cnf"
LOGIN = "/etc/mysql/holdfast-replication.cnf"
DUMP = f"{STATE_DIR}/replica-copy.sql"  # the primary's databases, while a replica loads them
USER = "holdfast_replica"
PORT = 3306
UNIT = "mariadb.service"


def active(host_settings: settings.HostSettings) -> bool:
    """Whether this host takes part: failover on, with sites, and a database to replicate."""
    return failover.active(host_settings) and host_settings.failover.database is not None


def is_replica(host_name: str, host_settings: settings.HostSettings) -> bool:
    """Whether ``host_name``'s database is a read-only replica of another web host's."""
    return active(host_settings) and host_settings.failover.database.primary != host_name


def password(host_settings: settings.HostSettings, environ=os.environ) -> str:
    """The replication user's password, from the deploy's environment (refused, naming the
    variable, when it is missing or of another form)."""
    database = host_settings.failover.database
    problems = database.password_problems(environ)
    if problems:
        raise loading.refuse(*problems)
    return environ[database.password_env]


def network_mask(network: str) -> str:
    """MariaDB's account host of the web hosts' network: '10.0.0.0/255.255.255.0'."""
    parsed = ipaddress.ip_network(network)
    return f"{parsed.network_address}/{parsed.netmask}"


def config_files(host_name: str, host_settings: settings.HostSettings, password: str) -> list[ConfigFile]:
    """MariaDB's replication settings for ``host_name`` (a key of failover.peers) and the
    replication user's login (root-only: it holds the password)."""
    policy = host_settings.failover
    primary = policy.database.primary
    own = policy.peers[host_name]
    return [
        ConfigFile(SERVER_CONFIG, render(
            "replication/etc/mysql/mariadb.conf.d/60-holdfast-replication.cnf.j2",
            primary=host_name == primary, primary_name=primary, server_id=own.priority, address=own.address,
        )),
        ConfigFile(LOGIN, render(
            "replication/etc/mysql/holdfast-replication.cnf.j2", user=USER, password=password,
            primary_address=policy.peers[primary].address,
        ), mode="600"),
    ]


# What undoes it once its files are gone (an uninstall): replication stopped and forgotten,
# the replication user dropped (outside the binary log), MariaDB restarted without the
# binary log and read-only setting. The databases it copied stay: they are the site's data.
UNDO = (
    "mariadb -N -e \"SELECT CONCAT('DROP USER ', QUOTE(User), '@', QUOTE(Host), ';') FROM mysql.user "
    f"WHERE User = '{USER}'\" | {{ echo 'SET SESSION sql_log_bin = 0; STOP SLAVE; RESET SLAVE ALL;'; cat; }} "
    f"| mariadb && systemctl restart {UNIT}"
)
def promotion_problems(fleet: dict[str, settings.HostSettings], host_name: str) -> list[str]:
    """Why ``host_name``'s replica cannot be promoted as group_data stands (none: it can).
    The repository names the primary: a replica promoted behind its back would be copied
    over from the old primary at the next deploy, its writes lost."""
    if host_name not in fleet or not active(fleet[host_name]):
        replicated = sorted(name for name, each in fleet.items() if active(each))
        return [f"HOST={host_name!r}: not a web host with a replicated database "
                f"(those: {', '.join(replicated) or 'none'})"]
    policy = fleet[host_name].failover
    if policy.database.primary == host_name:
        return []
    return [f"group_data names {policy.database.primary} the primary: first set failover.database.primary = "
            f"{host_name!r} and give {host_name} the highest priority in failover.peers (the service address goes "
            f"to it), commit, then run this again. {policy.database.primary}, when it is back, becomes {host_name}'s "
            "replica at the next deploy: what it took after its last replicated write is dropped."]


def _replica(host_settings: settings.HostSettings) -> planning.Query:
    return MariadbReplica, {"login": LOGIN, "address": host_settings.failover.peers[host.name].address}


def reads(host_settings: settings.HostSettings) -> list[planning.Query]:
    """What replication reads to plan (planning.read_together): how the host replicates."""
    return [_replica(host_settings)] if active(host_settings) else []


@deploy("Database replication")
def deploy_replication() -> None:
    """MariaDB's binary log and server id, read-only on the replicas; the replication user on
    every web host; each replica copied from the primary once, then replicating it."""
    host_settings = loading.current()
    if not active(host_settings):
        return
    policy = host_settings.failover
    database = policy.database
    validated_config(
        name="MariaDB replication settings and login",
        config="replication",
        files=config_files(host.name, host_settings, password(host_settings)),
        validate="mariadbd --help --verbose >/dev/null",
        reload=f"systemctl restart {UNIT}",
    )
    scripts = {"login": LOGIN, "user": USER, "network": network_mask(policy.network)}
    found = planning.fact(_replica(host_settings))
    if not found.login:
        server.shell(name="Replication user (made on each host, not replicated)",
                     commands=[StringCommand(render("replication/user.sh.j2", **scripts))])
    primary_address = policy.peers[database.primary].address
    if host.name == database.primary:
        if found.primary is not None:
            server.shell(name="Promoted: replicates no more (the primary, as group_data says)",
                         commands=["mariadb -e 'STOP SLAVE; RESET SLAVE ALL'"])
    elif (found.primary, found.by_gtid) != (primary_address, True):
        server.shell(name=f"Replica of {database.primary}: copied, then replicating",
                     commands=[StringCommand(render("replication/clone.sh.j2", primary_address=primary_address,
                                                    dump=DUMP, **scripts))])
