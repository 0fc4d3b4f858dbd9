"""The deploy benchmark counts the SSH commands per host from pyinfra's --debug log."""

from bench.deploy_times import ssh_commands

LOG = """\
[pyinfra.connectors.ssh] Running command on web1: (pty=None) sh -c 'stat -L -c ...'
[pyinfra.connectors.ssh] Running command on mon1: (pty=None) sh -c 'sha1sum /etc/monit/monitrc'
[pyinfra.connectors.ssh] Running command on web1: (pty=None) sh -c 'systemctl is-active nginx'
[pyinfra.api.facts] Getting fact: files.File (path=/etc/nginx/nginx.conf)
"""


def test_commands_are_counted_per_host():
    assert ssh_commands(LOG) == {"web1": 2, "mon1": 1}
