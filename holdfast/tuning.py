"""Three costs of pyinfra itself (3.10), cut from the deploy file: none changes what a deploy
does, each is paid per operation or per SSH command, on every host.

- pyinfra places each operation by the deploy's line numbers on the call stack, read with
  ``inspect.stack()``, which also finds and reads the source line of every frame, twice.
- Before each operation it reads the types of its global arguments anew
  (``typing.get_type_hints`` of one TypedDict), and they never change.
- paramiko, pyinfra's SSH library, leaves Nagle's algorithm on: the last small packet of a
  command waits for the host's delayed acknowledgement, some 40 ms per SSH command.

The first two replace a function of pyinfra's with one that returns the same (its unit test
compares them): only under the pyinfra they were written against, and only while pyinfra's
function is still in place; under another pyinfra, pyinfra's own stay.
"""

import socket
import sys
from functools import cache

import pyinfra
from pyinfra import host
from pyinfra.api import arguments, util
from pyinfra.version import __version__ as pyinfra_version

# The pyinfra whose two functions ``operation_order`` and ``global_argument_types`` answer as.
WRITTEN_FOR = "3.10."
_operation = sys.modules["pyinfra.api.operation"]  # the module: pyinfra.api's ``operation`` is the decorator
_ALL_GLOBAL_ARGUMENTS = arguments.all_global_arguments  # pyinfra's own


def operation_order(state) -> list[int]:
    """pyinfra's ``get_operation_order_from_stack`` (it places an operation among the others),
    read from the frames themselves: their file names and line numbers, no source read.
    The lines of the frames from the deploy file's first one on, pyinfra's own left out."""
    frames = []
    frame = sys._getframe(1)  # the caller's: pyinfra's own frame is left out anyway
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    # From the deploy file's first frame on: none of them if it has none (pyinfra's loop
    # then ends on its own frame), all of them if there is no deploy file.
    first = 0
    if state.current_deploy_filename:
        first = next((index for index, each in enumerate(frames)
                      if each.f_code.co_filename == state.current_deploy_filename), len(frames))
    lines = [state.current_op_file_number] if pyinfra.is_cli else []
    return lines + [each.f_lineno for each in frames[first:]
                    if not each.f_code.co_filename.startswith(util.PYINFRA_INSTALL_DIR)]


@cache
def _global_argument_types() -> tuple[tuple[str, type], ...]:
    return tuple(_ALL_GLOBAL_ARGUMENTS())


def global_argument_types() -> list[tuple[str, type]]:
    """pyinfra's ``all_global_arguments``, its types read once."""
    return list(_global_argument_types())



def place_and_type_operations_once(version: str = pyinfra_version) -> None:
    """Put ``operation_order`` and ``global_argument_types`` in place of pyinfra's two
    functions (each where pyinfra calls it), under pyinfra ``WRITTEN_FOR`` and if those are
    still pyinfra's own."""
    if not version.startswith(WRITTEN_FOR):
        return
    if _operation.get_operation_order_from_stack is util.get_operation_order_from_stack:
        _operation.get_operation_order_from_stack = operation_order
    if arguments.all_global_arguments is _ALL_GLOBAL_ARGUMENTS:
        arguments.all_global_arguments = global_argument_types


def send_without_delay() -> None:
    """Turn Nagle's algorithm off on the current host's SSH connection, as OpenSSH's own
    client does for interactive sessions: each SSH message leaves at once. A connection
    that is not pyinfra's SSH over TCP (the local connector, a ProxyCommand) is left as is."""
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
