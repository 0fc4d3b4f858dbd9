"""pyinfra's own costs cut: operations placed and typed as pyinfra would, without reading
every frame's source or the arguments' types again; SSH messages sent without delay."""

import socket
import sys
from types import SimpleNamespace

import pyinfra
import pytest
from pyinfra.api import arguments, util
from pyinfra.context import ctx_host

from holdfast import tuning
from holdfast.tuning import global_argument_types, operation_order, pyinfra_version, send_without_delay

_operation = sys.modules["pyinfra.api.operation"]


def _placed_from_an_executed_file(path, place, state):
    """``place(state)`` called from a function of ``path``, which is executed the way pyinfra
    executes a deploy file, as an operation is called from a deploy: its answer."""
    path.write_text("def deploy(place, state):\n    return place(state)\n\n\nplaced = deploy(place, state)\n")
    namespace = {"place": place, "state": state}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace["placed"]


@pytest.mark.parametrize("deploy_file", ["deploy.py", "other.py", None], ids=["the-deploy-file", "another", "none"])
@pytest.mark.parametrize("is_cli", [True, False], ids=["cli", "api"])
def test_an_operation_is_placed_where_pyinfra_would_place_it(tmp_path, monkeypatch, deploy_file, is_cli):
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    state = SimpleNamespace(current_deploy_filename=deploy_file and str(tmp_path / deploy_file),
                            current_op_file_number=7)
    # Both from the same line: every frame's line is the same.
    pyinfras, ours = [_placed_from_an_executed_file(tmp_path / "deploy.py", place, state)
                      for place in (util.get_operation_order_from_stack, operation_order)]
    assert ours == pyinfras
    if deploy_file == "deploy.py":
        assert ours == [7] * is_cli + [5, 2]  # the deploy file's lines, from its first frame on


def test_global_arguments_are_typed_as_pyinfra_types_them():
    assert global_argument_types() == tuning._ALL_GLOBAL_ARGUMENTS()
    global_argument_types().clear()  # each caller gets its own list
    assert global_argument_types() == tuning._ALL_GLOBAL_ARGUMENTS()


def _put_pyinfras_own_back(monkeypatch):
    monkeypatch.setattr(_operation, "get_operation_order_from_stack", util.get_operation_order_from_stack)
    monkeypatch.setattr(arguments, "all_global_arguments", tuning._ALL_GLOBAL_ARGUMENTS)


def test_pyinfras_functions_are_replaced_only_under_its_version_and_while_they_are_its_own(monkeypatch):
    assert pyinfra_version.startswith(tuning.WRITTEN_FOR)  # the pinned one (requirements.txt)
    _put_pyinfras_own_back(monkeypatch)
    tuning.place_and_type_operations_once()
    assert _operation.get_operation_order_from_stack is operation_order
    assert arguments.all_global_arguments is global_argument_types

    _put_pyinfras_own_back(monkeypatch)
    tuning.place_and_type_operations_once(version="3.11.0")  # another pyinfra: its own functions stay
    assert _operation.get_operation_order_from_stack is util.get_operation_order_from_stack
    assert arguments.all_global_arguments is tuning._ALL_GLOBAL_ARGUMENTS

    changed = lambda: []  # noqa: E731 (another module's, say)
    monkeypatch.setattr(_operation, "get_operation_order_from_stack", changed)
    monkeypatch.setattr(arguments, "all_global_arguments", changed)
    tuning.place_and_type_operations_once()
    assert _operation.get_operation_order_from_stack is changed and arguments.all_global_arguments is changed


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
