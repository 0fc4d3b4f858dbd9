"""Two costs of pyinfra itself, cut from the deploy file: neither changes what a deploy does.

- pyinfra places each operation by inspecting the whole call stack, and ``inspect`` looks
  every frame's file up among the loaded modules (``inspect.getmodule``). pyinfra executes
  the deploy file instead of importing it, so its file is in no module, and each lookup of
  it scans all of them again (some 1,500): three times per operation, per host.
- paramiko, pyinfra's SSH library, leaves Nagle's algorithm on: the last small packet of a
  command waits for the host's delayed acknowledgement, some 40 ms per SSH command.
"""

import os
import socket
import sys
import types

from pyinfra import host


def register_deploy_file(path: str) -> None:
    """Name the deploy file at ``path`` among the loaded modules, before its first operation:
    ``inspect`` then finds each of its frames at once. The entry's name is no importable
    name, and nothing reads it."""
    path = os.path.abspath(path)
    module = types.ModuleType(f"holdfast deploy file {path}")
    module.__file__ = path
    sys.modules.setdefault(module.__name__, module)


def send_without_delay() -> None:
    """Turn Nagle's algorithm off on the current host's SSH connection, as OpenSSH's own
    client does for interactive sessions: each SSH message leaves at once. A connection
    that is not pyinfra's SSH over TCP (the local connector, a ProxyCommand) is left as is."""
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
