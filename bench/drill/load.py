"""The drill's HTTP clients: visitors browsing at a normal pace and an attacker flooding,
each from an address of its own on the lab's bridge. Open-loop (a client keeps its pace
whatever the server does), bounded in count, time and requests in flight.
"""

import asyncio
import itertools
import random
import time
from dataclasses import dataclass

from lab.acme import client_context
from lab.topology import Lab

IN_FLIGHT = 1000  # requests a client has open at once, at most


@dataclass(frozen=True)
class Hit:
    """One request: who sent it, when (seconds since the drill began), what came back."""

    client: str
    sent: float
    seconds: float  # until the answer was read (the timeout if none came)
    status: int  # 0: no answer in time, or the connection failed
    ok: bool  # a 200 carrying the page's expected text
    path: str = ""


@dataclass(frozen=True)
class Client:
    """A source of requests: its name, address, pace, the paths it asks for in turn, and
    the header lines it adds."""

    name: str
    source: str
    per_second: float
    paths: tuple[str, ...]
    timeout: float
    expect: str = ""  # text a good answer contains
    headers: tuple[str, ...] = ()  # e.g. "Cookie: session=member"
    tls_lab: Lab | None = None  # over HTTPS, trusting this lab's ACME CA (None: HTTP)
    keep_alive: bool = False  # reuse idle connections, as a browser does (False: one per request)


async def _get(client: Client, address: str, host_name: str, path: str, started: float,
               idle: list | None = None, port: int | None = None) -> Hit:
    """One request of ``client``; ``idle``: its kept-alive connections (None: a new one, closed
    after); ``port``: the server's (None: 443 over HTTPS, else 80)."""
    sent = time.monotonic()
    status, body = 0, b""
    try:
        async with asyncio.timeout(client.timeout):
            status, body = await _exchange(client, address, port or (443 if client.tls_lab else 80), host_name, path,
                                           idle)
    except (TimeoutError, OSError, ValueError, IndexError, asyncio.IncompleteReadError):
        status = 0
    ok = status == 200 and client.expect.encode() in body
    return Hit(client.name, sent - started, time.monotonic() - sent, status, ok, path)


async def _exchange(client: Client, address: str, port: int, host_name: str, path: str,
                    idle: list | None) -> tuple[int, bytes]:
    """Send the request and read its answer, on an idle connection if there is one (on a new
    one if the server had closed that one meanwhile, as a browser retries)."""
    while True:
        reused = bool(idle)
        if reused:
            reader, writer = idle.pop()
        else:
            tls = {"ssl": client_context(client.tls_lab), "server_hostname": host_name} if client.tls_lab else {}
            reader, writer = await asyncio.open_connection(address, port, local_addr=(client.source, 0), **tls)
        kept = False
        try:
            fields = (f"Host: {host_name}", *client.headers, *(() if idle is not None else ("Connection: close",)))
            lines = "".join(f"{line}\r\n" for line in fields)
            writer.write(f"GET {path} HTTP/1.1\r\n{lines}\r\n".encode())
            try:
                status, body = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError):
                if reused:
                    continue
                raise
            if status == 0 and reused:
                continue
            if idle is not None and status:
                idle.append((reader, writer))
                kept = True
            return status, body
        finally:
            if not kept:
                writer.close()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one HTTP/1.1 answer, read as far as its framing says
    (Content-Length, or chunks), as a browser does; to the connection's end only if it has
    neither. nginx may hold the connection open after a cached page it served stale, until
    its background update from the application ends: the page has arrived by then."""
    head = await reader.readline()
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    fields = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.strip().lower()] = value.strip().lower()
    if "chunked" in fields.get("transfer-encoding", ""):
        body = b""
        while size := int((await reader.readline()).split(b";")[0], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        while await reader.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailer fields
        return status, body
    if "content-length" in fields:
        return status, await reader.readexactly(int(fields["content-length"]))
    return status, await reader.read()


async def run_client(
    client: Client, address: str, host_name: str, started: float, begin: float, until: float, hits: list[Hit],
) -> None:
    """Send ``client``'s requests at its pace from ``begin`` until ``until`` (monotonic
    clock; ``started``: when the drill began), each without waiting for the ones before;
    at most ``IN_FLIGHT`` at once."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    tasks = set()
    paths = itertools.cycle(client.paths)
    idle: list | None = [] if client.keep_alive else None

    async def one(path: str) -> None:
        try:
            hits.append(await _get(client, address, host_name, path, started, idle))
        finally:
            slots.release()

    for index in itertools.count():
        due = begin + index / client.per_second
        # A client behind its pace (a TLS handshake per request costs this machine's CPU)
        # stops at ``until`` too, rather than sending its backlog after the run.
        if due >= until or time.monotonic() >= until:
            break
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await slots.acquire()
        path = next(paths).replace("{n}", str(random.randrange(10**9)))
        task = asyncio.create_task(one(path))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks)
    for _, writer in idle or ():
        writer.close()
