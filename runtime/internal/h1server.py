"""A lean HTTP/1.1 server on asyncio Protocols and httptools (llhttp) for the hot path of the
internal port: peer sidecars' invocations (``wire.PATH_PREFIX``). The server side of
``runtime/appchannel/_h1.py``.

Why not aiohttp's server: its per-request machinery (``RequestHandler``, ``BaseRequest``,
``web.Response``, ``StreamWriter``) is most of the callee sidecar's Python time per call.

Contract of ``Conn`` (one per accepted connection, after the TLS handshake when there is one):

- it sniffs the first request line: a request for ``wire.PATH_PREFIX`` makes it serve the
  connection itself for its whole life; anything else (the gRPC tunnel, an unknown path) hands
  the connection, with the bytes read so far, to aiohttp's protocol (``handoff()``), which then
  serves it exactly as if it had accepted it. A later request on a lean connection for another
  path is answered 404 and the connection closed (the callers never mix them: the invocation
  pool and the tunnel's session use their own connections);
- each request becomes an ``InvokeRequest`` for ``serve`` (the internal server's handler): a
  ``Content-Length`` body of at most ``_WHOLE`` bytes that came with the headers is bytes, any
  other body streams (reading pauses while more than ``_HIGH`` bytes wait; a read that waits
  longer than the body timeout logs a warning, aborts the connection and raises
  ``BodyStalled``). ``Expect: 100-continue`` is answered when the request's turn comes, another
  expectation with 417;
- requests are answered one at a time, in order (pipelined ones are queued; reading pauses while
  too many wait); keep-alive follows HTTP/1.1 (``Connection: close``, HTTP/1.0). A complete
  response body goes out in one write with its ``Content-Length``, a streamed one chunked with
  flow control; the ``InvokeResponse`` is closed on every path. A lost connection cancels the
  request's task;
- bounds (``HttpLimits``): the complete headers within ``header_timeout`` of the first byte,
  an idle keep-alive connection closed after ``idle_timeout`` (one sweeper per server, no timer
  per request), a request line or header line longer than ``max_line_size`` → 431 (414 for the
  target), more than ``_MAX_HEADERS`` headers → 431, malformed HTTP → 400; each then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import lru_cache
from http import HTTPStatus
from typing import Any

import httptools

from runtime.api.http.errors import error_response
from runtime.api.http.limits import HttpLimits
from runtime.appchannel._headers import hop_by_hop, is_content_type
from runtime.appchannel.base import Body, InvokeRequest, InvokeResponse
from runtime.errors import APIError
from runtime.internal import wire
from runtime.security.gate import Gate

__all__ = ["BodyStalled", "Conn", "LeanServer"]

log = logging.getLogger("tandem.internal")

CallLocal = Callable[[InvokeRequest], Awaitable[InvokeResponse]]
_WHOLE = 64 * 1024  # a Content-Length body up to this size that came with the headers: bytes
_HIGH = 256 * 1024  # buffered request body bytes at which reading pauses
_MAX_QUEUED = 16  # pipelined requests waiting their turn at which reading pauses
_MAX_HEADERS = 128
_PREFIX = wire.PATH_PREFIX.encode()
# what a request header is to the server (``_kind``)
_OTHER, _CONTENT_TYPE, _VERB, _DATA_TYPE, _CONTENT_LENGTH, _EXPECT = range(6)
_KINDS = {
    "content-type": _CONTENT_TYPE,
    wire.VERB: _VERB,
    wire.DATA_TYPE: _DATA_TYPE,
    "content-length": _CONTENT_LENGTH,
    "expect": _EXPECT,
}


class BodyStalled(TimeoutError):
    """A peer's streamed request body made no progress within the body read timeout."""


@lru_cache(maxsize=1024)
def _kind(name: str) -> int:
    return _KINDS.get(name.lower(), _OTHER)


@lru_cache(maxsize=256)
def _status_line(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Status"
    return f"HTTP/1.1 {status} {phrase}\r\n"


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _plain(status: int, text: str) -> bytes:
    """A small text response that closes the connection (protocol errors)."""
    body = text.encode()
    return (
        f"{_status_line(status)}Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


class _Refused(Exception):
    """The request cannot be parsed or exceeds a bound: answer ``status`` and close."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


class _Request:
    """One request as parsed, its body fed by the connection and read by the handler."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_eof",
        "_error",
        "_waiter",
        "content_length",
        "content_type",
        "data_type",
        "expect",
        "headers",
        "keep_alive",
        "method",
        "url",
        "verb_header",
        "version",
    )

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.method = "GET"
        self.version = "1.1"
        self.keep_alive = True
        self.content_length: str | None = None
        self.content_type = ""
        self.data_type = ""
        self.expect: str | None = None
        self.verb_header: str | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class LeanServer:
    """What the lean connections share: the handler, the limits, the live connections and
    the sweeper of the header and idle timeouts."""

    def __init__(
        self,
        call_local: CallLocal,
        *,
        gate: Gate | None,
        limits: HttpLimits,
        handoff: Callable[[], asyncio.Protocol],
    ) -> None:
        self.call_local = call_local
        self.gate = gate
        self.limits = limits
        self.handoff = handoff  # aiohttp's protocol factory, for connections it serves
        self.conns: set[Conn] = set()
        self.closing = False
        self._sweeper: asyncio.Task[None] | None = None

    def __call__(self) -> Conn:
        if self._sweeper is None and not self.closing:
            tick = min(t for t in (self.limits.header_timeout, self.limits.idle_timeout, 4.0) if t)
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep(min(max(tick / 4, 0.05), 1.0)), name="internal-h1-timeouts"
            )
        return Conn(self)

    async def _sweep(self, tick: float) -> None:
        """Close connections past their header or idle timeout; runs until shutdown."""
        loop = asyncio.get_running_loop()
        header, idle = self.limits.header_timeout, self.limits.idle_timeout
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for conn in list(self.conns):
                since = conn.header_since
                if header and since is not None and since < now - header:
                    log.debug("closing a connection that sent no complete request headers")
                    conn.close()
                elif idle and conn.idle_since is not None and conn.idle_since < now - idle:
                    conn.close()

    async def shutdown(self, grace: float) -> None:
        """Idle connections close now; in-flight requests get ``grace`` seconds to finish
        (their connections close after the response), then the rest is aborted."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        busy = []
        for conn in list(self.conns):
            if conn.task is None and not conn.queue:
                conn.close()
            else:
                busy.append(conn.gone)
        if busy:
            await asyncio.wait(busy, timeout=grace or None)
        for conn in list(self.conns):
            conn.abort()


class Conn(asyncio.Protocol):
    """One connection; the httptools parser calls the ``on_*`` methods."""

    __slots__ = (
        "_draining",
        "_header_bytes",
        "_max_head",
        "_paused_reading",
        "_paused_writing",
        "_req",
        "_sniff",
        "_started",
        "closed",
        "gone",
        "header_since",
        "idle_since",
        "parser",
        "queue",
        "server",
        "task",
        "transport",
    )

    def __init__(self, server: LeanServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpRequestParser | None = None
        self._sniff: bytes | None = b""  # bytes before the first request line is known
        self._req: _Request | None = None  # the request being parsed
        self._header_bytes = 0
        self._max_head = max(64 * 1024, 16 * server.limits.max_line_size)  # a header block
        self.queue: deque[_Request] = deque()  # parsed, waiting their turn (first: current)
        self.task: asyncio.Task[None] | None = None
        self._started = False  # the current response's head was written
        self._paused_reading = False
        self._paused_writing = False
        self._draining: asyncio.Future[None] | None = None
        self.closed = False
        self.header_since: float | None = None
        self.idle_since: float | None = None
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # ---- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        if self.server.closing:
            transport.close()
            return
        self.header_since = asyncio.get_running_loop().time()
        self.server.conns.add(self)

    def data_received(self, data: bytes) -> None:
        if self._sniff is not None:
            data = self._sniff + data
            end = data.find(b"\n")
            if end < 0:
                if len(data) > self.server.limits.max_line_size:
                    self._refuse(_Refused(414, "Request-URI Too Long"))
                else:
                    self._sniff = data
                return
            space = data.find(b" ", 0, end)
            if space < 0 or not data.startswith(_PREFIX, space + 1):
                self._handoff(data)
                return
            self._sniff = None
            self.parser = httptools.HttpRequestParser(self)
        self.idle_since = None
        parser = self.parser
        if parser is None:  # reading stopped (a protocol switch was asked): ignored
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._stop_reading()  # no protocol switch here: answer what came, then close
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if not isinstance(refused, _Refused):
                refused = _Refused(400, f"Bad Request: {exc}")
            self._refuse(refused)
            return
        if self.header_since is not None:  # headers still incomplete: bounded in size
            self._header_bytes += len(data)
            if self._header_bytes > self._max_head:
                self._refuse(_Refused(431, "Request Header Fields Too Large"))
                return
        if self.task is None and self.queue:
            self._next()

    def eof_received(self) -> bool | None:
        """The peer finished sending: the requests it sent are still answered (not under TLS,
        which cannot half-close), then the connection closes."""
        if (self.task is None and not self.queue) or self.transport is None:
            return None
        if self.transport.get_extra_info("sslcontext") is not None:
            return None
        self.parser = None
        ended = ConnectionResetError("the peer ended the request body early")
        for req in self.queue:
            req.keep_alive = False
            if not req._eof:
                req._error = ended
                req._wake()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.conns.discard(self)
        if not self.gone.done():
            self.gone.set_result(None)
        lost = ConnectionResetError("the peer closed the connection")
        for req in self.queue:
            if not req._eof:
                req._error = lost
                req._wake()
        draining = self._draining
        if draining is not None and not draining.done():
            draining.set_exception(lost)
        task = self.task
        if task is not None and not task.done():
            task.cancel()

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        draining = self._draining
        if draining is not None and not draining.done():
            draining.set_result(None)

    # ---- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._req = _Request()
        self._header_bytes = 0
        if self.header_since is None:
            self.header_since = asyncio.get_running_loop().time()

    def on_url(self, url: bytes) -> None:
        req = self._req
        assert req is not None
        req.url += url
        if len(req.url) > self.server.limits.max_line_size:
            raise _Refused(414, "Request-URI Too Long")

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self._req
        assert req is not None
        if len(name) + len(value) > self.server.limits.max_line_size:
            raise _Refused(431, "Request Header Fields Too Large")
        headers = req.headers
        if len(headers) >= _MAX_HEADERS:
            raise _Refused(431, "Request Header Fields Too Large: too many headers")
        n, v = _decode(name), _decode(value)
        kind = _kind(n)
        if kind is _OTHER:
            headers.append((n, v))
        elif kind is _VERB:  # the sidecars' own: read here, not passed on
            if req.verb_header is None:
                req.verb_header = v
        elif kind is _DATA_TYPE:
            req.data_type = req.data_type or v
        else:
            headers.append((n, v))
            if kind is _CONTENT_TYPE:
                req.content_type = req.content_type or v
            elif kind is _CONTENT_LENGTH:
                req.content_length = v
            else:
                req.expect = v

    def on_headers_complete(self) -> None:
        req = self._req
        parser = self.parser
        assert req is not None
        assert parser is not None
        req.method = parser.get_method().decode("ascii", "replace")
        req.version = parser.get_http_version()
        req.keep_alive = parser.should_keep_alive()
        self.header_since = None
        self.queue.append(req)
        if len(self.queue) > _MAX_QUEUED:
            self.pause_reading()

    def on_body(self, body: bytes) -> None:
        req = self._req
        if req is None:
            return
        req._chunks.append(body)
        req._buffered += len(body)
        if req._buffered > _HIGH:
            self.pause_reading()
        req._wake()

    def on_message_complete(self) -> None:
        req = self._req
        if req is not None:
            req._eof = True
            req._wake()
        self._req = None

    # ---- flow control -----------------------------------------------------------------------

    def pause_reading(self) -> None:
        if not self._paused_reading and self.transport is not None and not self.closed:
            self._paused_reading = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused_reading and self.transport is not None and not self.closed:
            self._paused_reading = False
            self.transport.resume_reading()

    def _stop_reading(self) -> None:
        """No more requests from this connection: those parsed are answered, then it closes."""
        self.pause_reading()
        self.parser = None
        for req in self.queue:
            req.keep_alive = False

    async def _drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("the peer closed the connection")
        if self._paused_writing:
            self._draining = asyncio.get_running_loop().create_future()
            try:
                await self._draining
            finally:
                self._draining = None

    # ---- the connection's life --------------------------------------------------------------

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _handoff(self, data: bytes) -> None:
        """aiohttp serves this connection from now on, from its first byte."""
        self._sniff = None
        self.server.conns.discard(self)
        if not self.gone.done():
            self.gone.set_result(None)
        transport = self.transport
        assert transport is not None
        handler = self.server.handoff()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        handler.data_received(data)

    def _refuse(self, exc: _Refused) -> None:
        """A protocol error: answered when no response is under way (requests parsed but not
        started are dropped), else that response ends first; then the connection closes. A
        body being read fails. Never a traceback."""
        log.debug("refused a request on the internal port: %s", exc)
        self._stop_reading()
        self._req = None
        broken = ConnectionResetError(f"the request is malformed: {exc}")
        for req in self.queue:
            if not req._eof:
                req._error = broken
                req._wake()
        if self.task is None and self.transport is not None:
            self.queue.clear()
            self.transport.write(_plain(exc.status, str(exc)))
            self.close()

    def _next(self) -> None:
        self._started = False
        self.task = asyncio.get_running_loop().create_task(self._serve(self.queue[0]))

    def _done(self, req: _Request, keep_alive: bool) -> None:
        """``req`` was answered: the next request's turn, or the connection kept or closed."""
        self.task = None
        self.queue.popleft()
        if self.closed:
            return
        if not (keep_alive and req.keep_alive and req._eof) or self.server.closing:
            self.close()  # (a body not read to its end leaves the connection unusable)
            return
        if self._paused_reading and len(self.queue) <= _MAX_QUEUED:
            self.resume_reading()
        if self.queue:
            self._next()
        elif self._req is None:
            self.idle_since = asyncio.get_running_loop().time()

    # ---- one request ------------------------------------------------------------------------

    async def _serve(self, req: _Request) -> None:
        keep_alive = False
        try:
            keep_alive = await self._answer(req)
        except asyncio.CancelledError:
            if not self.closed:
                self.abort()
            raise
        except (ConnectionError, TimeoutError) as exc:  # the peer left, or its body stalled
            log.debug("a call on the internal port ended early: %r", exc)
            self.abort()
        except Exception:
            log.exception("error answering a call on the internal port")
            if not self._started and not self.closed and self.transport is not None:
                self.transport.write(_plain(500, "Internal Server Error"))
                self.close()
            else:
                self.abort()
        finally:
            self._done(req, keep_alive)

    def _closing(self, req: _Request) -> bool:
        """Whether the connection closes after answering ``req`` (as far as known now)."""
        return not req.keep_alive or self.server.closing or self.parser is None

    def _continue(self, req: _Request) -> bool:
        """Answer ``Expect``: False when it was refused (417)."""
        expect = req.expect
        if expect is None or req.version != "1.1":
            return True
        if expect.lower() != "100-continue":
            self._write_head(
                417, [("Content-Type", "text/plain; charset=utf-8")], f"Unknown Expect: {expect}"
            )
            return False
        if not req._eof and not req._chunks:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    async def _answer(self, req: _Request) -> bool:
        """Serve ``req``; True when the connection may carry another request."""
        url = _decode(req.url)
        path, _, query = url.partition("?")
        if not path.startswith(wire.PATH_PREFIX):
            self._write_head(404, [("Content-Type", "text/plain; charset=utf-8")], "Not Found")
            return False
        if not self._continue(req):
            return req._eof
        server = self.server
        body: Body = b""
        if req._chunks or not req._eof:
            length = req.content_length
            if req._eof and length is not None and len(length) < 6 and int(length) <= _WHOLE:
                chunks = req._chunks
                body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                req._chunks = []
                req._buffered = 0
            else:
                body = self._stream(req, server.limits.body_timeout or None)
        invoke = InvokeRequest(
            method=path[len(wire.PATH_PREFIX) :],
            verb=None if req.verb_header == wire.VERB_NONE else req.method,
            headers=tuple(req.headers),
            query=query,
            body=body,
            content_type=req.content_type,
            data_type_url=req.data_type,
        )
        try:
            if server.gate is not None:  # mTLS identity and access control
                invoke = server.gate.admit(self.transport, invoke)
            reply = await server.call_local(invoke)
        except APIError as err:
            response = error_response(err)
            headers = [(n, v) for n, v in response.headers.items()]
            headers.append((wire.ERROR, err.kind.name))  # the calling sidecar re-raises it
            assert isinstance(response.body, bytes)
            self._write_head(
                response.status,
                headers,
                response.body,
                head=req.method == "HEAD",
                closing=self._closing(req),
            )
            return True
        return await self._respond(req, reply)

    async def _respond(self, req: _Request, reply: InvokeResponse) -> bool:
        async with reply:
            headers = [(n, v) for n, v in reply.headers if not hop_by_hop(n)]
            if reply.content_type and not any(is_content_type(n) for n, _ in headers):
                headers.append(("Content-Type", reply.content_type))
            if reply.grpc_status:
                headers.append((wire.GRPC_STATUS, str(reply.grpc_status)))
            if reply.data_type_url:
                headers.append((wire.DATA_TYPE, reply.data_type_url))
            status = reply.status
            head_only = req.method == "HEAD"
            complete = reply.complete_body
            closing = self._closing(req)
            if complete is not None:
                self._write_head(status, headers, complete, head=head_only, closing=closing)
                return True
            if head_only or status in (204, 304) or status < 200:
                self._write_head(status, headers, None, head=True, closing=closing)
                return True
            chunked = req.version == "1.1"
            self._write_head(status, headers, None, chunked=chunked, closing=not chunked or closing)
            transport = self.transport
            assert transport is not None
            async for chunk in reply:
                if self.closed:
                    raise ConnectionResetError("the peer closed the connection")
                if chunked:
                    transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
                else:
                    transport.write(chunk)
                if self._paused_writing:
                    await self._drain()
            if chunked:
                transport.write(b"0\r\n\r\n")
            return chunked

    def _write_head(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes | str | None,
        *,
        head: bool = False,
        chunked: bool = False,
        closing: bool = True,
    ) -> None:
        """The status line and headers, with a whole ``body`` (and its Content-Length) in the
        same write, or announcing a streamed one (chunked, or until the connection closes).
        ``head``: no body is sent (HEAD); 1xx, 204 and 304 never have one. ``closing``: the
        connection closes after it."""
        if isinstance(body, str):
            body = body.encode()
        self._started = True
        parts = [_status_line(status)]
        typed = False
        for name, value in headers:
            parts += (name, ": ", value, "\r\n")
            typed = typed or is_content_type(name)
        lines = len(headers) + 2  # the status line, the headers, the blank line
        bodiless = status < 200 or status in (204, 304)
        if not bodiless:
            if not typed and not head and (body is None or body):
                parts.append("Content-Type: application/octet-stream\r\n")
                lines += 1
            if body is not None:
                parts += ("Content-Length: ", str(len(body)), "\r\n")
                lines += 1
            elif chunked:
                parts.append("Transfer-Encoding: chunked\r\n")
                lines += 1
        if closing:
            parts.append("Connection: close\r\n")
            lines += 1
        parts.append("\r\n")
        text = "".join(parts)
        transport = self.transport
        assert transport is not None
        if text.count("\n") != lines:  # a line break in a name or value: never sent on
            log.warning("a response header contains a line break: answering 500")
            transport.write(_plain(500, "Internal Server Error"))
            self.close()
            return
        data = text.encode("utf-8", "surrogateescape")
        if body and not head and not bodiless:
            transport.write(data + body)
        else:
            transport.write(data)

    async def _stream(self, req: _Request, idle: float | None) -> AsyncIterator[bytes]:
        """The body as it arrives; BodyStalled (and the connection aborted) when a read waits
        longer than ``idle`` seconds."""
        while True:
            if req._chunks:
                chunks, req._chunks = req._chunks, []
                req._buffered = 0
                if self._paused_reading and len(self.queue) <= _MAX_QUEUED:
                    self.resume_reading()
                for chunk in chunks:
                    yield chunk
            elif req._eof:
                return
            elif req._error is not None:
                raise req._error
            else:
                req._waiter = asyncio.get_running_loop().create_future()
                try:
                    async with asyncio.timeout(idle):
                        await req._waiter
                except TimeoutError:
                    self._stalled(idle)
                finally:
                    req._waiter = None

    def _stalled(self, idle: float | None) -> Any:
        transport = self.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        log.warning("closing the connection from %s: its request body stalled for %ss", peer, idle)
        self.abort()
        raise BodyStalled(f"the request body stalled for {idle}s") from None
