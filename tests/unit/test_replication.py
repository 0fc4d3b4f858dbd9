"""The database's replication: the settings' checks (before any host is touched) and
MariaDB's files and scripts rendered from the lab's group_data."""

import json
import subprocess

import pytest

from holdfast import firewall, loading, monitoring, replication
from holdfast.__main__ import main
from holdfast.facts import MariadbReplica, Replica
from holdfast.inventory import read_inventory
from holdfast.templates import render
from lab.topology import LAB
from tests.conftest import FAKE_DATABASE_LOGIN, FLEET, append, fleet_settings, settings_error

SECRET = FAKE_DATABASE_LOGIN


@pytest.fixture(scope="module")
def lab():
    return fleet_settings()


def files_of(host_name, host_settings, password=SECRET) -> dict[str, str]:
    return {file.path: file.content for file in replication.config_files(host_name, host_settings, password)}


@pytest.mark.parametrize(("line", "expected"), [
    ("failover['database']['primary'] = 'web3'",
     "group_data/lab.py: failover.database.primary = 'web3': expected a key of failover.peers (web1, web2)"),
    ("failover['database']['primary'] = 'web 1'", "failover.database.primary = 'web 1': expected a hostname"),
    ("failover['database']['primary'] = 'web2'",
     "failover.database.primary = 'web2': expected the peer of highest priority (web1): the service address"),
    ("failover['database']['lag_limit'] = '0s'", "failover.database.lag_limit = 0: expected greater than or equal to 1"),
    ("services.pop('mariadb')", "failover.database = 'set': expected a service with exporter 'mysqld'"),
], ids=["primary-not-a-peer", "primary-not-a-name", "primary-not-first", "no-lag", "no-database"])
def test_bad_replication_is_refused_naming_file_key_and_form(project_copy, line, expected):
    target = "group_data/web.py" if line.startswith("services") else "group_data/lab.py"
    append(project_copy / target, line)
    assert expected in settings_error()


@pytest.mark.parametrize(("value", "found"), [
    (None, "it is not set"), ("short", "its value is of another form (not shown)"),
    ("quote'in-a-password-0000", "its value is of another form (not shown)"),
])
def test_a_password_missing_or_of_another_form_is_refused_and_never_shown(lab, value, found):
    database = lab["web1"].failover.database
    environ = {} if value is None else {database.password_env: value}
    (problem,) = database.password_problems(environ)
    assert problem[:2] == (("failover", "database", "password_env"), "HOLDFAST_LAB_REPLICATION_PASSWORD")
    assert problem[2].endswith(f"16 or more letters, digits, '-' or '_' ({found})")
    assert value is None or value not in problem[2]
    assert not database.password_problems({database.password_env: SECRET})


def test_the_primary_logs_its_writes_and_the_replica_is_read_only(lab):
    web1, web2 = LAB.group("web")
    primary = files_of("web1", lab["web1"])[replication.SERVER_CONFIG]
    replica = files_of("web2", lab["web2"])[replication.SERVER_CONFIG]
    assert "server_id = 150\n" in primary and "server_id = 148\n" in replica  # the peers' priorities: unique
    assert f"bind_address = 127.0.0.1,{web1.address}\n" in primary
    assert f"bind_address = 127.0.0.1,{web2.address}\n" in replica
    assert "log_bin = mysql-bin\nlog_slave_updates = ON\n" in replica  # a promoted replica has its log
    assert "read_only = OFF" in primary and "read_only = ON" in replica


def test_the_login_is_root_only_and_points_at_the_primary(lab):
    (login,) = [file for file in replication.config_files("web2", lab["web2"], SECRET)
                if file.path == replication.LOGIN]
    assert login.mode == "600" and login.user == "root"
    assert f"user=holdfast_replica\npassword={SECRET}\nhost={LAB.group('web')[0].address}\n" in login.content


def test_no_password_on_a_command_line(lab):
    scripts = {"login": replication.LOGIN, "user": replication.USER, "network": "10.0.0.0/255.255.255.0"}
    for script in (render("replication/user.sh.j2", **scripts),
                   render("replication/clone.sh.j2", primary_address="10.0.0.1", dump="/tmp/d", **scripts)):
        assert SECRET not in script and "password=$(sed -n 's/^password=//p'" in script
        assert '" | mariadb\n' in script  # the SQL with the password by standard input
    assert replication.network_mask(str(LAB.subnet)).endswith("/255.255.255.0")


def test_the_web_hosts_let_each_other_reach_mariadb_and_nobody_else(lab):
    opened = {opening.why: opening for opening in firewall.openings(lab["web1"], {})}
    mariadb = opened["MariaDB's replication between the web hosts"]
    assert (mariadb.protocol, mariadb.ports, mariadb.sources) == (
        "tcp", (3306,), tuple(web.address for web in LAB.group("web")))


def test_replication_off_without_failover_database(lab):
    off = lab["web1"].model_copy(update={"failover": lab["web1"].failover.model_copy(update={"database": None})})
    assert not replication.active(off) and replication.active(lab["web1"])
    assert "MariaDB's replication between the web hosts" not in {o.why for o in firewall.openings(off, {})}


# --- watched from outside: promtool runs the lab's rules over made-up series --------------

REPLICA = {"job": "mysqld", "host": "web2", "instance": "web2:9104", "role": "replica"}


def lab_rules_file(directory):
    """``directory`` with the lab's alert rules in rules.yml."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(FLEET)
        inventory = read_inventory("inventories/lab.py")
        files = monitoring.prometheus_files(loading.load(inventory)["mon1"], monitoring.watched_hosts(inventory))
    (directory / "rules.yml").write_text(next(file.content for file in files if file.path == monitoring.RULES_FILE))
    return directory


@pytest.fixture(scope="module")
def lab_rules(tmp_path_factory):
    return lab_rules_file(tmp_path_factory.mktemp("rules"))


def promtool(directory, input_series: list[dict], checks: list[dict]) -> None:
    test = {"rule_files": ["rules.yml"], "evaluation_interval": "5s",
            "tests": [{"interval": "5s", "input_series": input_series, "alert_rule_test": checks}]}
    (directory / "test.yml").write_text(json.dumps(test))  # JSON is YAML
    result = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=directory, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def series(name: str, labels: dict, values: str) -> dict:
    return {"series": name + "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}",
            "values": values}


def alert(name: str, summary: str, labels: dict) -> dict:
    return {"exp_labels": {**labels, "severity": "ticket", "tier": "tier1"},
            "exp_annotations": {"summary": summary, "description": monitoring.ALERTS[name].description,
                                "runbook_url": f"docs/RUNBOOK.md#{name.lower()}"}}


BROKEN = ("The database on web2 does not replicate the primary's: the site's data would be lost or stale if the "
          "address moved there.")


@pytest.mark.parametrize("given", [
    [series("mysql_slave_status_slave_sql_running", REPLICA, "1x5 0x10"),
     series("mysql_slave_status_slave_io_running", REPLICA, "1x15")],
    [series("mysql_up", REPLICA, "1x15"), series("mysql_slave_status_slave_sql_running", REPLICA, "1x5 stale")],
], ids=["stopped-on-an-error", "not-set-up"])
def test_a_replica_that_stops_replicating_is_told(lab_rules, given):
    promtool(lab_rules, given, [
        {"eval_time": "20s", "alertname": "DatabaseReplicaBroken", "exp_alerts": []},
        {"eval_time": "35s", "alertname": "DatabaseReplicaBroken",
         "exp_alerts": [alert("DatabaseReplicaBroken", BROKEN, REPLICA)]},
    ])


def test_a_replica_behind_its_lag_limit_is_told(lab_rules):
    summary = "The database on web2 is 2m 0s behind the primary's: over 60s."
    promtool(lab_rules, [series("mysql_slave_status_seconds_behind_master", REPLICA, "0x5 120x10")], [
        {"eval_time": "20s", "alertname": "DatabaseReplicaLagging", "exp_alerts": []},
        {"eval_time": "35s", "alertname": "DatabaseReplicaLagging",
         "exp_alerts": [alert("DatabaseReplicaLagging", summary, REPLICA)]},
    ])


# --- promotion: the repository names the primary -------------------------------------------


def test_a_replica_is_promoted_only_once_group_data_names_it(lab):
    (problem,) = replication.promotion_problems(lab, "web2")
    assert problem.startswith("group_data names web1 the primary: first set failover.database.primary = 'web2' "
                              "and give web2 the highest priority in failover.peers")
    assert replication.promotion_problems(lab, "web1") == []
    assert replication.promotion_problems(lab, "mon1") == [
        "HOST='mon1': not a web host with a replicated database (those: web1, web2)"]


def test_make_promote_stops_before_any_deploy_while_group_data_names_another(project_copy, capsys):
    assert main(["promote", "inventories/lab.py", "web2"]) == 2
    assert "group_data names web1 the primary" in capsys.readouterr().err


def test_make_promote_goes_on_once_group_data_names_the_replica(project_copy, capsys):
    append(project_copy / "group_data/lab.py", "failover['database']['primary'] = 'web2'")
    append(project_copy / "group_data/lab.py", "failover['peers']['web2']['priority'] = 160")
    assert main(["promote", "inventories/lab.py", "web2"]) == 0
    assert "web2: its database becomes the primary" in capsys.readouterr().err


@pytest.mark.parametrize(("output", "expected"), [
    (["login", "10.0.0.11", "Slave_Pos"], Replica(True, "10.0.0.11", True)),
    (["10.0.0.11", "No"], Replica(False, "10.0.0.11", False)),
    (["login"], Replica(True, None, False)),
    ([], Replica(False, None, False)),
], ids=["replicating", "by-file-position-no-login", "a-primary", "nothing-yet"])
def test_what_the_host_s_mariadb_says_of_replication(output, expected):
    fact = MariadbReplica()
    assert (fact.process(output) if output else fact.default()) == expected  # pyinfra: no output, the default
    command = MariadbReplica().command(replication.LOGIN, "10.0.0.12")
    assert f"--defaults-extra-file={replication.LOGIN} -h 10.0.0.12 -e 'SELECT 1'" in command
    assert SECRET not in command
