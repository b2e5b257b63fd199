"""The internal server against slow peers, and the lean HTTP/1.1 client through it: a real
server on a free port, raw sockets and the real client (no mocks)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from components.nameresolution import Address
from runtime.api.http.limits import HttpLimits
from runtime.appchannel.base import InvokeRequest, InvokeResponse
from runtime.internal import wire
from runtime.internal.client import InternalClient, PeerUnreachable
from runtime.internal.server import InternalServer, PrefixRoute

LIMITS = HttpLimits(header_timeout=0.3, body_timeout=0.3, idle_timeout=30)


async def _echo(request: InvokeRequest) -> InvokeResponse:
    """Answers the method, the verb and the body it read (whole, or streamed)."""
    if isinstance(request.body, bytes):
        body = request.body
    else:
        body = b"".join([chunk async for chunk in request.body])
    return InvokeResponse(
        status=200,
        headers=(("x-method", request.method), ("x-verb", request.verb or "")),
        content_type="application/octet-stream",
        body=body,
    )


@pytest.fixture
async def server() -> AsyncIterator[InternalServer]:
    srv = InternalServer(_echo, addresses=["127.0.0.1"], port=0, limits=LIMITS)
    await srv.start()
    yield srv
    await srv.stop()


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Waits (with a generous deadline) for the server to close the connection."""
    try:
        async with asyncio.timeout(10):
            return await reader.read(65536) == b""
    except ConnectionError:
        return True


async def _call(port: int, body: bytes = b"ping") -> tuple[int, bytes]:
    client = InternalClient()
    try:
        reply = await client.send(
            Address("127.0.0.1", port),
            InvokeRequest(method="m/x", verb="POST", body=body),
            [(wire.CALLEE_APP_ID, "me")],
        )
        return reply.status, await reply.read()
    finally:
        await client.aclose()


async def test_a_peer_that_never_completes_its_headers_is_disconnected(
    server: InternalServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /v1.0/internal/invoke/m HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    await writer.drain()
    assert await _closed_by_server(reader)
    writer.close()
    assert await _call(server.port) == (200, b"ping")  # others are still served


async def test_a_stalled_request_body_is_cut_and_logged(
    server: InternalServer, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /v1.0/internal/invoke/m HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n4\r\nfirs\r\n"
    )
    await writer.drain()
    with caplog.at_level(logging.WARNING, logger="tandem.internal"):
        assert await _closed_by_server(reader)
    writer.close()
    assert "request body stalled" in caplog.text
    assert await _call(server.port) == (200, b"ping")


async def test_the_lean_client_streams_a_large_body_and_reuses_its_connection(
    server: InternalServer,
) -> None:
    client = InternalClient()
    address = Address("127.0.0.1", server.port)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"z" * 65536

    try:
        for body in (b"small", chunks(), b""):
            reply = await client.send(
                address,
                InvokeRequest(method="a/b", verb="PUT", query="q=1", body=body),
                [(wire.CALLEE_APP_ID, "me")],
            )
            data = await reply.read()
            assert reply.status == 200
            assert dict(reply.headers)["x-method"] == "a/b"
            assert len(data) == (5 if body == b"small" else 0 if body == b"" else 64 * 65536)
        pool = client._pools[address]
        assert len(pool._all) == 1  # one keep-alive connection served the three calls
    finally:
        await client.aclose()


async def test_a_line_break_in_a_header_is_refused_before_sending(server: InternalServer) -> None:
    client = InternalClient()
    try:
        with pytest.raises(ConnectionError, match="line break"):
            await client.send(
                Address("127.0.0.1", server.port),
                InvokeRequest(method="m", verb="GET", headers=(("x-a", "1\r\nx-b: 2"),)),
                [(wire.CALLEE_APP_ID, "me")],
            )
    finally:
        await client.aclose()


async def test_nothing_listening_is_unreachable() -> None:
    probe = InternalServer(_echo, addresses=["127.0.0.1"], port=0)
    await probe.start()
    port = probe.port
    await probe.stop()
    client = InternalClient()
    try:
        with pytest.raises(PeerUnreachable):
            await client.send(
                Address("127.0.0.1", port),
                InvokeRequest(method="m", verb="GET"),
                [(wire.CALLEE_APP_ID, "me")],
            )
    finally:
        await client.aclose()


async def _raw(port: int, request: bytes) -> bytes:
    """One request on a fresh connection; everything the server sent until it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


async def _tunnel(request: web.BaseRequest) -> web.StreamResponse:
    return web.Response(text="tunnel " + request.raw_path)


async def test_routes_are_dispatched_on_the_raw_path_prefix() -> None:
    srv = InternalServer(
        _echo,
        addresses=["127.0.0.1"],
        port=0,
        limits=LIMITS,
        routes=[PrefixRoute("POST", "/v1.0/internal/grpc/", _tunnel)],
    )
    await srv.start()
    try:
        close = b"Host: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        found = await _raw(srv.port, b"POST /v1.0/internal/grpc/pkg.S/M HTTP/1.1\r\n" + close)
        assert found.startswith(b"HTTP/1.1 200")
        assert found.endswith(b"tunnel /v1.0/internal/grpc/pkg.S/M")
        wrong_verb = await _raw(srv.port, b"GET /v1.0/internal/grpc/pkg.S/M HTTP/1.1\r\n" + close)
        assert wrong_verb.startswith(b"HTTP/1.1 405")
        assert b"Allow: POST" in wrong_verb
        elsewhere = await _raw(srv.port, b"GET /v1.0/invoke/x/method/y HTTP/1.1\r\n" + close)
        assert elsewhere.startswith(b"HTTP/1.1 404")
        assert await _call(srv.port) == (200, b"ping")
    finally:
        await srv.stop()


async def test_expect_100_continue_is_answered_before_the_body(server: InternalServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"POST /v1.0/internal/invoke/m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n"
        )
        await writer.drain()
        async with asyncio.timeout(10):
            interim = await reader.readuntil(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"body")
        async with asyncio.timeout(10):
            rest = await reader.read()
        assert rest.startswith(b"HTTP/1.1 200")
        assert rest.endswith(b"body")
    finally:
        writer.close()
    refused = await _raw(
        server.port,
        b"POST /v1.0/internal/invoke/m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Expect: something\r\nContent-Length: 0\r\n\r\n",
    )
    assert refused.startswith(b"HTTP/1.1 417")
