"""The lean HTTP/1.1 client (``runtime/appchannel/_h1.py``) against raw asyncio servers that
answer with exact bytes: framing cases aiohttp's server would never produce."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from runtime.appchannel._h1 import ExchangeFailed, Pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Serve = Callable[[Handler], Awaitable[int]]


async def _head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handler(reader, writer)
                await reader.read()  # until the client closes
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(closing, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _body(pool: Pool, verb: str = "GET") -> tuple[int, bytes]:
    response = await pool.request(verb, "/x", [("x-a", "1")])
    try:
        if response.complete is not None:
            return response.status, response.complete
        return response.status, b"".join([c async for c in response.chunks()])
    finally:
        response.close()


async def test_head_answers_have_no_body_and_keep_the_connection(serve: Serve) -> None:
    accepted = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        while True:
            try:
                head = await _head(reader)
            except asyncio.IncompleteReadError:
                return
            if head.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")

    pool = Pool("127.0.0.1", await serve(handler))
    assert await _body(pool, "HEAD") == (200, b"")
    assert await _body(pool, "GET") == (200, b"hello")
    assert accepted == 1
    await pool.aclose()


async def test_a_body_delimited_by_the_connection_end_and_an_interim_answer(serve: Serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nX-B: 2\r\n\r\npart one, ")
        await writer.drain()
        await asyncio.sleep(0)
        writer.write(b"part two")
        writer.close()

    pool = Pool("127.0.0.1", await serve(handler))
    response = await pool.request("GET", "/x", [])
    assert ("X-B", "2") in response.headers
    body = response.complete
    if body is None:
        body = b"".join([c async for c in response.chunks()])
    response.close()
    assert body == b"part one, part two"
    await pool.aclose()


async def test_a_stale_pooled_connection_is_replaced_for_an_idempotent_call(serve: Serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)  # one answer per connection, then the server drops it silently
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.transport.abort()

    pool = Pool("127.0.0.1", await serve(handler))
    assert await _body(pool) == (200, b"ok")
    assert await _body(pool) == (200, b"ok")  # the dead pooled connection was not used
    await pool.aclose()


async def test_garbage_instead_of_http_is_an_exchange_failure(serve: Serve) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"\x16\x03\x01 not http at all\r\n\r\n")

    pool = Pool("127.0.0.1", await serve(handler))
    with pytest.raises(ExchangeFailed):
        await _body(pool, "POST")
    await pool.aclose()
