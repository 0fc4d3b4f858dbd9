"""The site's database under Holdfast's care: MariaDB in its slice, answering Monit's MySQL
protocol probe, restarted by Monit (alone) when it dies, and its exporter logging in with
credentials only root and the exporter's user read."""

import pytest

from holdfast import monitoring
from lab.harness.faults import summary
from lab.harness.probes import wait_for

pytestmark = pytest.mark.hosts("web")

NAME = "mariadb"


@pytest.fixture(scope="module")
def database(settings):
    if NAME not in settings.services:
        pytest.skip(f"no {NAME} service on this host")
    return settings.services[NAME]


def main_pid(host, unit: str) -> int:
    """systemd's main PID of ``unit``, 0 while it is not active."""
    state = host.check_output(f"systemctl show -p ActiveState -p MainPID --value {unit}").split()
    return int(state[0]) if state[1:] == ["active"] else 0


def test_monit_sees_it_answer_its_protocol(host, database, settings):
    assert wait_for(lambda: summary(host).get(NAME) == "OK", timeout=3 * settings.monit.cycle)
    assert "protocol mysql" in host.check_output(f"cat /etc/monit/conf.d/holdfast-{NAME}.conf")


def test_it_runs_in_its_slice(host, database):
    assert host.check_output(f"systemctl show -p Slice --value {database.unit}") == f"holdfast-{database.slice}.slice"


def test_systemd_leaves_its_restarts_to_monit(host, database):
    assert host.check_output(f"systemctl show -p Restart --value {database.unit}") == "no"


@pytest.mark.disruptive
def test_monit_restarts_it_when_it_dies(host, database, settings):
    before = main_pid(host, database.unit)
    log_size = int(host.check_output("stat -c %s /var/log/monit.log"))
    host.check_output(f"kill -9 {before}")
    deadline = 2 * settings.monit.cycle + database.supervision.start_timeout
    assert wait_for(lambda: main_pid(host, database.unit) not in (0, before), timeout=deadline)
    log = host.check_output(f"tail -c +{log_size + 1} /var/log/monit.log")
    assert f"'{NAME}' trying to restart" in log or f"'{NAME}' start:" in log, log
    assert wait_for(lambda: summary(host).get(NAME) == "OK", timeout=deadline)


def test_exporter_credentials_are_root_and_exporter_only(host, database):
    if database.exporter != "mysqld":
        pytest.skip("no mysqld exporter")
    login = host.file(monitoring.MYSQLD_EXPORTER_LOGIN)
    assert (login.user, login.group, oct(login.mode)) == ("root", "prometheus", "0o640")


def test_exporter_logs_in(host, database):
    if database.exporter != "mysqld":
        pytest.skip("no mysqld exporter")
    metrics = host.check_output(f"curl -sS -m 5 http://127.0.0.1:{monitoring.MYSQLD_EXPORTER_PORT}/metrics")
    assert "\nmysql_up 1\n" in metrics
