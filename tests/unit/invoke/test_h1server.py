"""The lean HTTP/1.1 server of the internal port (``runtime/internal/h1server.py``): a real
``InternalServer`` on a free port, raw sockets, responses parsed with httptools (no mocks)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httptools
import pytest
from aiohttp import web

from runtime.api.http.errors import error_body
from runtime.api.http.limits import HttpLimits
from runtime.appchannel.base import InvokeRequest, InvokeResponse
from runtime.errors import Errors
from runtime.internal import wire
from runtime.internal.server import InternalServer, PrefixRoute

LIMITS = HttpLimits(header_timeout=0.5, body_timeout=0.5, idle_timeout=30, max_line_size=1024)
TUNNEL = "/v1.0/internal/grpc/"


class App:
    """Records what it got; answers by method name."""

    def __init__(self) -> None:
        self.bodies: list[bytes | str] = []  # bytes, or "stream:<data>" for a streamed body
        self.closed = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, request: InvokeRequest) -> InvokeResponse:
        if isinstance(request.body, bytes):
            self.bodies.append(request.body)
            body = request.body
        else:
            body = b"".join([chunk async for chunk in request.body])
            self.bodies.append("stream:" + body.decode())
        name = request.method
        headers = (("x-method", name), ("x-verb", request.verb or ""), ("x-query", request.query))
        if name == "error":
            raise Errors.BODY_TOO_LARGE(detail="test")
        if name == "nocontent":
            return InvokeResponse(status=204, headers=headers)
        if name == "stream":
            return InvokeResponse(status=200, headers=headers, body=self._parts())
        if name == "endless":
            return InvokeResponse(status=200, headers=headers, body=self._endless())
        return InvokeResponse(status=200, headers=headers, content_type="text/plain", body=body)

    async def _parts(self) -> AsyncIterator[bytes]:
        for part in (b"one", b"two", b"three"):
            yield part

    async def _endless(self) -> AsyncIterator[bytes]:
        try:
            while True:
                self.started.set()
                yield b"x" * 65536
                await asyncio.sleep(0)
        finally:
            self.closed.set()


class Reply:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.done = False


class Responses:
    """Parses the responses on one raw connection, in order."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.replies: list[Reply] = []
        self.parser = httptools.HttpResponseParser(self)

    def on_message_begin(self) -> None:
        self.replies.append(Reply())

    def on_header(self, name: bytes, value: bytes) -> None:
        self.replies[-1].headers[name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        self.replies[-1].status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.replies[-1].body += body

    def on_message_complete(self) -> None:
        self.replies[-1].done = True

    async def next(self, n: int = 1) -> list[Reply]:
        async with asyncio.timeout(10):
            while sum(r.done for r in self.replies) < n:
                data = await self.reader.read(65536)
                assert data, "the server closed the connection early"
                self.parser.feed_data(data)
        out, self.replies = self.replies[:n], self.replies[n:]
        return out


@pytest.fixture
async def app() -> App:
    return App()


async def _tunnel(request: web.BaseRequest) -> web.StreamResponse:
    return web.Response(text="tunnel " + request.raw_path)


@pytest.fixture
async def server(app: App) -> AsyncIterator[InternalServer]:
    srv = InternalServer(
        app,
        addresses=["127.0.0.1"],
        port=0,
        limits=LIMITS,
        routes=[PrefixRoute("POST", TUNNEL, _tunnel)],
    )
    await srv.start()
    yield srv
    await srv.stop()


async def _open(srv: InternalServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", srv.port)


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        async with asyncio.timeout(10):
            while await reader.read(65536):
                pass
            return True
    except ConnectionError:
        return True


def _post(method: str, body: bytes = b"", extra: str = "") -> bytes:
    return (
        f"POST {wire.PATH_PREFIX}{method} HTTP/1.1\r\nHost: x\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def test_keep_alive_serves_requests_on_one_connection(server: InternalServer) -> None:
    reader, writer = await _open(server)
    responses = Responses(reader)
    try:
        for i in range(3):
            writer.write(_post(f"m{i}?a={i}", b"body%d" % i))
            [reply] = await responses.next()
            assert reply.status == 200
            assert reply.headers["x-method"] == f"m{i}"
            assert reply.headers["x-query"] == f"a={i}"
            assert reply.headers["content-type"] == "text/plain"
            assert "connection" not in reply.headers
            assert reply.body == b"body%d" % i
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order(server: InternalServer, app: App) -> None:
    reader, writer = await _open(server)
    try:
        writer.write(b"".join(_post(f"p{i}", b"%d" % i) for i in range(5)) + _post("stream"))
        replies = await Responses(reader).next(6)
        assert [r.headers["x-method"] for r in replies] == [f"p{i}" for i in range(5)] + ["stream"]
        assert [r.body for r in replies] == [b"0", b"1", b"2", b"3", b"4", b"onetwothree"]
    finally:
        writer.close()


async def test_a_chunked_request_body_streams_to_the_app(server: InternalServer, app: App) -> None:
    reader, writer = await _open(server)
    responses = Responses(reader)
    try:
        writer.write(
            f"PUT {wire.PATH_PREFIX}up HTTP/1.1\r\nHost: x\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".encode()
        )
        await writer.drain()
        writer.write(b"6\r\n world\r\n0\r\n\r\n")
        [reply] = await responses.next()
        assert reply.status == 200
        assert reply.headers["x-verb"] == "PUT"
        assert reply.body == b"hello world"
        assert app.bodies == ["stream:hello world"]
        writer.write(_post("after", b"again"))  # the connection is still usable
        [reply] = await responses.next()
        assert reply.body == b"again"
    finally:
        writer.close()


async def test_a_large_content_length_body_streams(server: InternalServer, app: App) -> None:
    reader, writer = await _open(server)
    try:
        writer.write(_post("big", b"y" * 300_000, "Connection: close\r\n"))
        [reply] = await Responses(reader).next()
        assert len(reply.body) == 300_000
        assert app.bodies == ["stream:" + "y" * 300_000]
        assert reply.headers["connection"] == "close"
        assert await _closed_by_server(reader)
    finally:
        writer.close()


async def test_expect_100_continue_on_a_keep_alive_connection(server: InternalServer) -> None:
    reader, writer = await _open(server)
    try:
        writer.write(_post("warm", b"w"))
        await Responses(reader).next()
        writer.write(
            f"POST {wire.PATH_PREFIX}m HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            f"Content-Length: 4\r\n\r\n".encode()
        )
        async with asyncio.timeout(10):
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"body")
        [reply] = await Responses(reader).next()
        assert (reply.status, reply.body) == (200, b"body")
    finally:
        writer.close()


async def test_a_streamed_response_is_sent_chunked(server: InternalServer) -> None:
    reader, writer = await _open(server)
    try:
        writer.write(_post("stream", extra="Connection: close\r\n"))
        async with asyncio.timeout(10):
            raw = await reader.read()
        assert b"\r\nTransfer-Encoding: chunked\r\n" in raw
        assert raw.endswith(b"\r\n\r\n3\r\none\r\n3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n")
    finally:
        writer.close()


async def test_head_and_204_have_no_body(server: InternalServer) -> None:
    reader, writer = await _open(server)
    try:
        for method in ("m", "stream"):
            writer.write(f"HEAD {wire.PATH_PREFIX}{method} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"Transfer-Encoding" not in head
        writer.write(_post("nocontent", b"x", "Connection: close\r\n"))
        async with asyncio.timeout(10):
            raw = await reader.read()  # the next bytes are the next response: no HEAD body
        assert raw.startswith(b"HTTP/1.1 204 No Content\r\n")
        assert raw.endswith(b"\r\n\r\n")
        assert b"content-length" not in raw.lower()
    finally:
        writer.close()


async def test_an_app_error_is_the_error_body_marked_for_the_caller(
    server: InternalServer,
) -> None:
    reader, writer = await _open(server)
    try:
        writer.write(_post("error"))
        [reply] = await Responses(reader).next()
        assert reply.status == 413
        assert reply.headers[wire.ERROR] == "Errors.BODY_TOO_LARGE"
        assert reply.headers["content-type"].startswith("application/json")
        assert json.loads(reply.body) == error_body(Errors.BODY_TOO_LARGE(detail="test"))
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /v1.0/internal/invoke/m HTTP/1.1\r\nHost x\r\n\r\n", 400),
        (b"POST /v1.0/internal/invoke/m HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400),
        (b"POST /v1.0/internal/invoke/m HTTP/1.1\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n", 431),
        (
            b"POST /v1.0/internal/invoke/m HTTP/1.1\r\n"
            + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
            + b"\r\n",
            431,
        ),
        (b"GET /v1.0/internal/invoke/" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n", 414),
        (
            b"POST /v1.0/internal/invoke/m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
        ),
    ],
)
async def test_malformed_or_oversized_requests_are_refused_without_a_traceback(
    server: InternalServer, caplog: pytest.LogCaptureFixture, request_bytes: bytes, status: int
) -> None:
    reader, writer = await _open(server)
    try:
        with caplog.at_level(logging.DEBUG):
            writer.write(request_bytes)
            async with asyncio.timeout(10):
                raw = await reader.read()
        assert raw.startswith(b"HTTP/1.1 %d " % status)
        assert b"Connection: close" in raw
        assert "Traceback" not in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        writer.close()


async def test_a_trickling_client_is_closed_at_the_header_timeout(server: InternalServer) -> None:
    reader, writer = await _open(server)
    try:
        writer.write(f"GET {wire.PATH_PREFIX}m HTTP/1.1\r\n".encode())
        closed = False
        async with asyncio.timeout(10):
            while not closed:  # a header byte at a time, each well within the timeout
                try:
                    writer.write(b"x")
                    await writer.drain()
                    async with asyncio.timeout(0.05):
                        closed = await reader.read(1) == b""
                except TimeoutError:
                    continue
                except ConnectionError:
                    closed = True
        assert closed
    finally:
        writer.close()


async def test_a_stalled_body_closes_the_connection(
    server: InternalServer, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await _open(server)
    try:
        with caplog.at_level(logging.WARNING, logger="tandem.internal"):
            writer.write(
                f"POST {wire.PATH_PREFIX}m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                "1\r\na\r\n".encode()
            )
            assert await _closed_by_server(reader)
        assert "request body stalled" in caplog.text
    finally:
        writer.close()


async def test_a_tunnel_first_request_hands_the_connection_to_aiohttp(
    server: InternalServer,
) -> None:
    reader, writer = await _open(server)
    responses = Responses(reader)
    try:
        request = f"POST {TUNNEL}pkg.S/M HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        writer.write(request.encode())
        [reply] = await responses.next()
        assert reply.body == f"tunnel {TUNNEL}pkg.S/M".encode()
        assert "aiohttp" in reply.headers["server"]  # aiohttp answered
        writer.write(request.encode())  # and keeps serving the connection
        [reply] = await responses.next()
        assert reply.status == 200
        writer.write(_post("m", b"via aiohttp"))  # an invocation on it too
        [reply] = await responses.next()
        assert reply.body == b"via aiohttp"
    finally:
        writer.close()


async def test_another_path_on_a_lean_connection_is_404_and_closed(
    server: InternalServer,
) -> None:
    reader, writer = await _open(server)
    try:
        writer.write(_post("m", b"x"))
        await Responses(reader).next()
        writer.write(f"POST {TUNNEL}pkg.S/M HTTP/1.1\r\nContent-Length: 0\r\n\r\n".encode())
        async with asyncio.timeout(10):
            raw = await reader.read()
        assert raw.startswith(b"HTTP/1.1 404")
    finally:
        writer.close()


async def test_a_client_leaving_mid_stream_closes_the_reply(
    server: InternalServer, app: App
) -> None:
    reader, writer = await _open(server)
    writer.write(_post("endless"))
    async with asyncio.timeout(10):
        await reader.readuntil(b"\r\n\r\n")
        await app.started.wait()
    writer.transport.abort()
    async with asyncio.timeout(10):
        await app.closed.wait()
    reader2, writer2 = await _open(server)  # the server still serves others
    try:
        writer2.write(_post("m", b"ok"))
        [reply] = await Responses(reader2).next()
        assert reply.body == b"ok"
    finally:
        writer2.close()


async def test_stop_lets_the_call_in_flight_finish_and_closes_idle_connections(
    app: App,
) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow(request: InvokeRequest) -> InvokeResponse:
        entered.set()
        await release.wait()
        return await app(request)

    srv = InternalServer(slow, addresses=["127.0.0.1"], port=0, limits=LIMITS, grace=10)
    await srv.start()
    idle_reader, idle_writer = await _open(srv)
    busy_reader, busy_writer = await _open(srv)
    try:
        idle_writer.write(_post("idle", b"i"))
        release.set()
        await Responses(idle_reader).next()
        release.clear()
        entered.clear()
        busy_writer.write(_post("busy", b"b"))
        async with asyncio.timeout(10):
            await entered.wait()
        stopping = asyncio.ensure_future(srv.stop())
        assert await _closed_by_server(idle_reader)
        release.set()
        [reply] = await Responses(busy_reader).next()
        assert (reply.status, reply.body, reply.headers["connection"]) == (200, b"b", "close")
        async with asyncio.timeout(10):
            await stopping
    finally:
        idle_writer.close()
        busy_writer.close()


async def test_sidecar_headers_are_read_not_passed_on() -> None:
    seen: list[InvokeRequest] = []

    async def record(request: InvokeRequest) -> InvokeResponse:
        seen.append(request)
        return InvokeResponse(status=200)

    srv = InternalServer(record, addresses=["127.0.0.1"], port=0, limits=LIMITS)
    await srv.start()
    reader, writer = await _open(srv)
    try:
        writer.write(
            _post(
                "pkg.S/M?x=1",
                b"proto",
                f"{wire.VERB}: NONE\r\n{wire.DATA_TYPE}: type.googleapis.com/T\r\n"
                "Content-Type: application/x-protobuf\r\nX-Custom: kept\r\n",
            )
        )
        [reply] = await Responses(reader).next()
        assert reply.status == 200
        [request] = seen
        assert (request.method, request.verb, request.query) == ("pkg.S/M", None, "x=1")
        assert request.body == b"proto"
        assert request.content_type == "application/x-protobuf"
        assert request.data_type_url == "type.googleapis.com/T"
        names = [n.lower() for n, _ in request.headers]
        assert "x-custom" in names
        assert wire.VERB not in names
        assert wire.DATA_TYPE not in names
    finally:
        writer.close()
        await srv.stop()


async def test_a_request_followed_by_a_half_close_is_still_answered(
    server: InternalServer,
) -> None:
    reader, writer = await _open(server)
    try:
        writer.write(_post("m", b"half"))
        writer.write_eof()
        async with asyncio.timeout(10):
            raw = await reader.read()
        assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
        assert raw.endswith(b"\r\n\r\nhalf")
    finally:
        writer.close()


async def test_http_1_0_gets_a_body_delimited_by_the_close(server: InternalServer) -> None:
    reader, writer = await _open(server)
    try:
        writer.write(f"GET {wire.PATH_PREFIX}stream HTTP/1.0\r\n\r\n".encode())
        async with asyncio.timeout(10):
            raw = await reader.read()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding" not in head
        assert body == b"onetwothree"
    finally:
        writer.close()


async def test_a_body_that_turns_malformed_midway_closes_the_connection(
    server: InternalServer, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await _open(server)
    try:
        with caplog.at_level(logging.DEBUG):
            writer.write(
                f"POST {wire.PATH_PREFIX}m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                "1\r\na\r\n".encode()
            )
            await writer.drain()
            writer.write(b"zz\r\n")
            assert await _closed_by_server(reader)
        assert "Traceback" not in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        writer.close()
