"""The drill's HTTP client reads an answer as far as its framing says, not to the
connection's end, which nginx may delay after serving a stale page (its background update)."""

import asyncio

import pytest

from bench.drill.load import read_response


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
