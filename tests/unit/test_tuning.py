"""pyinfra's own costs cut: the deploy file named among the loaded modules (placing an
operation needs no scan), and SSH messages sent without delay."""

import inspect
import socket
import sys
from types import SimpleNamespace

from pyinfra.context import ctx_host

from holdfast.tuning import register_deploy_file, send_without_delay


def _frame_of_executed_file(path):
    """A frame of ``path`` executed the way pyinfra executes a deploy file."""
    path.write_text("import sys\nframe = sys._getframe()\n")
    namespace = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["frame"]


def test_an_executed_file_is_in_no_module_until_registered(tmp_path):
    frame = _frame_of_executed_file(tmp_path / "deploy.py")
    assert inspect.getmodule(frame) is None  # inspect scanned every loaded module for it

    register_deploy_file(str(tmp_path / "deploy.py"))
    module = inspect.getmodule(frame)
    assert module is not None and module.__file__ == str(tmp_path / "deploy.py")
    assert inspect.getframeinfo(frame).lineno == 2  # pyinfra reads the same line as before


def test_registering_twice_keeps_one_entry(tmp_path):
    before = len(sys.modules)
    register_deploy_file(str(tmp_path / "deploy.py"))
    register_deploy_file(str(tmp_path / "deploy.py"))
    assert len(sys.modules) == before + 1


class _Transport:
    def __init__(self, sock):
        self.sock = sock


class _Client:
    def __init__(self, sock):
        self.transport = _Transport(sock)

    def get_transport(self):
        return self.transport


class _Host:
    def __init__(self, sock):
        self.connector = SimpleNamespace(client=_Client(sock))


def test_the_ssh_connection_sends_without_delay():
    """On a real TCP connection, as paramiko's transport holds it."""
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # paramiko's default
        with ctx_host.use(_Host(sock)):
            send_without_delay()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_connection_that_is_no_tcp_socket_is_left_as_it_is():
    left, right = socket.socketpair()  # e.g. a ProxyCommand's pipe: no TCP options
    with left, right, ctx_host.use(_Host(left)):
        send_without_delay()
    with ctx_host.use(SimpleNamespace(connector=SimpleNamespace())):  # the local connector: no client
        send_without_delay()
