"""The drill's HTTP client reads an answer as far as its framing says, not to the
connection's end, which nginx may delay after serving a stale page (its background update)."""

import asyncio

import pytest

from bench.drill import load
from bench.drill.load import Client, Hit, read_response


def answer(data: bytes, eof: bool = False) -> tuple[int, bytes]:
    """What read_response makes of ``data``, the connection left open unless ``eof``."""
    async def read():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        if eof:
            reader.feed_eof()
        return await asyncio.wait_for(read_response(reader), 1)
    return asyncio.run(read())


def test_a_page_with_a_length_is_read_without_waiting_for_the_close():
    assert answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello") == (200, b"hello")


def test_chunks_are_joined_and_read_up_to_the_last():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    assert answer(chunked) == (200, b"hello world")


def test_an_answer_without_framing_is_read_to_the_close():
    assert answer(b"HTTP/1.1 502 Bad Gateway\r\n\r\nbad", eof=True) == (502, b"bad")
    with pytest.raises(TimeoutError):
        answer(b"HTTP/1.1 502 Bad Gateway\r\n\r\nbad")


def test_a_body_cut_short_is_an_error_not_a_page():
    with pytest.raises(asyncio.IncompleteReadError):
        answer(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nhello", eof=True)


def served_by_a_server(client: Client, paths: list[str], close_after: int = 0) -> tuple[list[Hit], int]:
    """``client``'s requests for ``paths``, one after another, to a local server that answers
    each with a page (closing the connection after ``close_after`` answers, if set); the hits
    and how many connections it accepted."""
    accepted = 0

    async def serve(reader, writer):
        nonlocal accepted
        accepted += 1
        answered = 0
        while (await reader.readuntil(b"\r\n\r\n")).startswith(b"GET"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npage")
            await writer.drain()
            answered += 1
            if answered == close_after:
                break
        writer.close()

    async def run():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        idle = [] if client.keep_alive else None
        hits = []
        for path in paths:
            hits.append(await load._get(client, "127.0.0.1", "example.com", path, 0.0, idle, port=port))
            await asyncio.sleep(0.05)  # the server's close arrives before the next request
        server.close()
        return hits

    hits = asyncio.run(run())
    return hits, accepted


def test_a_browser_keeps_its_connection_for_the_next_page():
    client = Client("crowd1", "127.0.0.1", 1, ("/",), timeout=2, expect="page", keep_alive=True)
    hits, connections = served_by_a_server(client, ["/", "/a", "/b"])
    assert [hit.ok for hit in hits] == [True] * 3 and [hit.path for hit in hits] == ["/", "/a", "/b"]
    assert connections == 1


def test_a_connection_the_server_closed_is_retried_on_a_new_one():
    client = Client("crowd1", "127.0.0.1", 1, ("/",), timeout=2, expect="page", keep_alive=True)
    hits, connections = served_by_a_server(client, ["/", "/a", "/b"], close_after=1)
    assert [hit.ok for hit in hits] == [True] * 3 and connections == 3


def test_without_keep_alive_each_request_has_its_own_connection():
    client = Client("visitor", "127.0.0.1", 1, ("/",), timeout=2, expect="page")
    hits, connections = served_by_a_server(client, ["/", "/a"])
    assert [hit.ok for hit in hits] == [True] * 2 and connections == 2
