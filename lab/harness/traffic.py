"""HTTP(S) traffic from the machine to a lab host, sent from one of the lab's own addresses
(lab/topology.py CLIENT_OFFSETS), so each test client has an address of its own. Over
HTTPS (``tls``) the site's name goes in SNI and the certificate must verify against the
lab's ACME CA, as a browser would check it.

Every function is bounded: a fixed number of requests, each with a timeout.
"""

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from lab.acme import client_context


class _SiteConnection(http.client.HTTPSConnection):
    """HTTPS to ``address`` for the site ``host_name``: its name in SNI and verified."""

    def __init__(self, address: str, host_name: str, **options):
        super().__init__(host_name, 443, context=client_context(), **options)
        self.address = address

    def connect(self):
        raw = socket.create_connection((self.address, self.port), self.timeout, self.source_address)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def connect(source: str, address: str, host_name: str, timeout: float, tls: bool) -> socket.socket:
    """A connection from ``source`` to the site ``host_name`` on ``address``: port 443 with
    TLS (verified), else port 80."""
    raw = socket.create_connection((address, 443 if tls else 80), timeout=timeout, source_address=(source, 0))
    return client_context().wrap_socket(raw, server_hostname=host_name) if tls else raw


@dataclass(frozen=True)
class Answer:
    """What one request got: status (0: no answer in time), headers, body, seconds taken."""

    status: int
    headers: dict[str, str]
    body: str
    seconds: float


def request(source: str, address: str, host_name: str, path: str, timeout: float = 10, headers=None, *,
            tls: bool) -> Answer:
    """GET ``path`` of the site ``host_name`` from ``address``, sent from ``source``; over
    HTTPS when ``tls`` (required: a site with tls answers port 80 with a redirect only)."""
    started = time.monotonic()
    if tls:
        connection = _SiteConnection(address, host_name, timeout=timeout, source_address=(source, 0))
    else:
        connection = http.client.HTTPConnection(address, 80, timeout=timeout, source_address=(source, 0))
    try:
        connection.request("GET", path, headers={"Host": host_name, **(headers or {})})
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        return Answer(response.status, dict(response.getheaders()), body, time.monotonic() - started)
    except (TimeoutError, OSError):
        return Answer(0, {}, "", time.monotonic() - started)
    finally:
        connection.close()


def paced(source: str, address: str, host_name: str, path: str, count: int, per_second: float,
          timeout: float = 10, *, tls: bool) -> list[Answer]:
    """``count`` requests started ``per_second`` apart in time, each without waiting for the
    ones before it (a client that keeps its pace whatever the server does)."""
    answers: list[Answer | None] = [None] * count

    def send(index: int) -> None:
        answers[index] = request(source, address, host_name, f"{path}{'&' if '?' in path else '?'}n={index}", timeout,
                                 tls=tls)

    threads = []
    started = time.monotonic()
    for index in range(count):
        time.sleep(max(0.0, started + index / per_second - time.monotonic()))
        thread = threading.Thread(target=send, args=(index,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return answers


def held_requests(source: str, address: str, host_name: str, path: str, count: int, per_second: float,
                  settle: float = 1.0, *, tls: bool) -> list[int]:
    """Open ``count`` requests, ``per_second`` apart, that each announce a body and never send
    it, so nginx keeps every admitted one in progress; returns each one's status after
    ``settle`` seconds (0: still in progress, no answer). All are closed on return."""
    request_head = (
        f"POST {path} HTTP/1.1\r\nHost: {host_name}\r\nContent-Type: text/plain\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    sockets = []
    try:
        started = time.monotonic()
        for index in range(count):
            time.sleep(max(0.0, started + index / per_second - time.monotonic()))
            held = connect(source, address, host_name, 5, tls)
            held.sendall(request_head)
            sockets.append(held)
        time.sleep(settle)
        return [_status_if_answered(held) for held in sockets]
    finally:
        for held in sockets:
            held.close()


def _status_if_answered(held: socket.socket) -> int:
    held.setblocking(False)
    try:
        head = held.recv(64)
    except (BlockingIOError, ssl.SSLWantReadError):
        return 0
    return int(head.split()[1]) if head.startswith(b"HTTP/") else 0


def connects(source: str, address: str, port: int, timeout: float = 3) -> bool:
    """Whether a TCP connection from ``source`` to ``address``:``port`` opens within
    ``timeout`` seconds (False: refused, or no answer at all)."""
    try:
        with socket.create_connection((address, port), timeout=timeout, source_address=(source, 0)):
            return True
    except OSError:
        return False
