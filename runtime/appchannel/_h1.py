"""A lean pooled HTTP/1.1 client on asyncio Protocols and httptools (llhttp), for the hot paths:
the app channel (sidecar → app) and the internal channel (sidecar → peer sidecar).

Why not aiohttp's ``ClientSession``: it costs ~100 µs of CPU per request in Python (URL and
header objects, connector, tracing, timers); this costs a fraction (``bench/invoke.py``).

Contract of ``Pool.request``:

- returns once the response headers are in; ``Response.complete`` holds the whole body when it
  arrived with them (the common small case), else the body streams from ``Response.chunks()``
  with flow control (reading pauses while more than ``_HIGH`` bytes wait to be consumed);
- a streamed request body is sent chunked, concurrently with the response (full duplex);
- ``Response.close()`` returns the connection to the pool when the exchange completed cleanly,
  and closes it otherwise (cancellation included);
- ``ConnectFailed``: no connection could be made, nothing was sent (always safe to retry);
  ``ExchangeFailed``: the connection broke after the request started. A stale pooled connection
  (closed by the server while idle) that breaks before any response byte is retried once on a
  fresh connection when the request is idempotent and its body is in memory.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

import httptools

__all__ = ["ConnectFailed", "ExchangeFailed", "H1Error", "Pool", "Response"]

_HIGH = 256 * 1024  # buffered response bytes at which reading pauses (until they are consumed)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_BODY_VERBS = frozenset({"POST", "PUT", "PATCH"})  # an empty body is sent as Content-Length: 0


class H1Error(ConnectionError):
    """The exchange failed at the transport or protocol level."""


class ConnectFailed(H1Error):
    """No connection could be made (refused, unreachable, TLS or peer check failed)."""


class ExchangeFailed(H1Error):
    """The connection broke, or the peer answered something that is not HTTP/1.1."""


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class Response:
    """One response: ``status``, ``headers`` (in order, as sent) and the body."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_conn",
        "_eof",
        "_error",
        "_released",
        "_waiter",
        "complete",
        "headers",
        "keep_alive",
        "status",
    )

    def __init__(self, conn: _Conn) -> None:
        self._conn = conn
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = False
        self.complete: bytes | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._released = False

    # ---- fed by the connection --------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _HIGH:
            self._conn.pause_reading()
        self._wake()

    def _finish(self) -> None:
        self._eof = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if not self._eof:
            self._error = exc
        self._wake()

    # ---- read by the caller -----------------------------------------------------------------

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (after ``complete`` was None); ExchangeFailed if it breaks."""
        while True:
            if self._chunks:
                chunks, self._chunks = self._chunks, []
                self._buffered = 0
                self._conn.resume_reading()
                for chunk in chunks:
                    yield chunk
            elif self._eof:
                return
            elif self._error is not None:
                raise ExchangeFailed(f"reading the response: {self._error}")
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
                self._waiter = None

    def close(self) -> None:
        """Idempotent: the connection goes back to the pool if the exchange ended cleanly."""
        if self._released:
            return
        self._released = True
        conn = self._conn
        conn.done(self._eof and self._error is None and self.keep_alive)
        conn.pool.free_slot()


class _Conn(asyncio.Protocol):
    """One connection; the httptools parser calls the ``on_*`` methods."""

    __slots__ = (
        "_drain",
        "_head",
        "_headers_seen",
        "_paused_reading",
        "_paused_writing",
        "_until_eof",
        "body_task",
        "closed",
        "extra",
        "head_only",
        "parser",
        "pool",
        "response",
        "transport",
        "used_at",
    )

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.response: Response | None = None
        self._head: asyncio.Future[None] | None = None
        self._headers_seen = False
        self._paused_reading = False
        self._paused_writing = False
        self._drain: asyncio.Future[None] | None = None
        self.body_task: asyncio.Task[None] | None = None
        self.closed = False
        self.head_only = False  # per exchange: a HEAD response has no body whatever it declares
        self._until_eof = False  # per exchange: the body ends when the server closes
        self.used_at = 0.0
        self.extra: Any = None  # set by the pool's on_connect hook (e.g. the peer's identity)

    # ---- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:  # bytes nobody asked for: the connection cannot be trusted
            self.abort()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._broken(ExchangeFailed(f"invalid HTTP response: {exc}"))
            self.abort()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if exc is None and self._until_eof and self.response is not None:
            self.response._finish()  # a body delimited by the end of the connection
        self._broken(exc or ExchangeFailed("the server closed the connection"))
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_exception(ConnectionResetError("connection lost while sending"))

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # ---- httptools callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        response = self.response
        if response is not None and not self._headers_seen:
            response.headers.append((_decode(name), _decode(value)))

    def on_headers_complete(self) -> None:
        response = self.response
        parser = self.parser
        if response is None or parser is None or self._headers_seen:
            return  # (a second, unsolicited answer on the connection: ignored, not reused)
        status = parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue): the real one follows
            response.headers.clear()
            return
        response.status = status
        response.keep_alive = parser.should_keep_alive()
        self._headers_seen = True
        if self.head_only:
            response._finish()
        elif not response.keep_alive:
            names = {n.lower() for n, _ in response.headers}
            framed = "content-length" in names or "transfer-encoding" in names
            self._until_eof = not framed and status not in (204, 304)
        head = self._head
        if head is not None and not head.done():
            head.set_result(None)

    def on_body(self, body: bytes) -> None:
        response = self.response
        if response is not None and self._headers_seen and not response._eof:
            response._feed(body)

    def on_message_complete(self) -> None:
        response = self.response
        if response is None or not self._headers_seen:
            return
        if response._eof and not self.head_only:  # a second message: never reuse this one
            response.keep_alive = False
        response._finish()

    # ---- used by the pool -------------------------------------------------------------------

    def _broken(self, exc: BaseException) -> None:
        head = self._head
        if head is not None and not head.done():
            head.set_exception(exc if isinstance(exc, H1Error) else ExchangeFailed(str(exc)))
        if self.response is not None:
            self.response._fail(exc)

    def pause_reading(self) -> None:
        if not self._paused_reading and self.transport is not None and not self.closed:
            self._paused_reading = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused_reading and self.transport is not None and not self.closed:
            self._paused_reading = False
            self.transport.resume_reading()

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("connection lost while sending")
        if self._paused_writing:
            self._drain = asyncio.get_running_loop().create_future()
            try:
                await self._drain
            finally:
                self._drain = None

    def start(self, head_only: bool) -> Response:
        self.response = response = Response(self)
        self.parser = httptools.HttpResponseParser(self)
        self.head_only = head_only
        self._until_eof = False
        self._headers_seen = False
        self._head = asyncio.get_running_loop().create_future()
        return response

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def done(self, reusable: bool) -> None:
        """The exchange is over: back to the pool, or closed."""
        task = self.body_task
        if task is not None and not task.done():
            task.cancel()
            reusable = False
        self.body_task = None
        self.response = None
        self.parser = None
        self._head = None
        self.resume_reading()
        self.pool.release(self, reusable and not self.closed)


Body = bytes | AsyncIterable[bytes]


class Pool:
    """Keep-alive connections to one ``host:port`` (TLS when ``ssl`` is given), at most
    ``limit`` at once; idle ones are closed after ``keepalive`` seconds unused.

    ``on_connect(transport)`` runs on each new connection before its first request and may
    raise ``ConnectFailed`` to refuse it (the mTLS peer check); its return value is kept with
    the connection. ``admit(extra, expect)`` is then asked, for every request that passes
    ``expect``, whether that connection may carry it: a reason to refuse, or None. A new
    connection refused fails the request with ``ConnectFailed(reason)``; a pooled one is closed
    and another is taken.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl: ssl.SSLContext | None = None,
        limit: int = 100,
        keepalive: float = 15.0,
        connect_timeout: float | None = 5.0,
        on_connect: Callable[[asyncio.Transport], Any] | None = None,
        admit: Callable[[Any, Any], str | None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._ssl = ssl
        self._keepalive = keepalive
        self._connect_timeout = connect_timeout
        self._on_connect = on_connect
        self._admit = admit
        self._slots = asyncio.Semaphore(limit) if limit > 0 else None
        self._idle: list[_Conn] = []
        self._all: set[_Conn] = set()
        bracketed = f"[{host}]" if ":" in host else host
        self._host_line = f"Host: {bracketed}:{port}\r\n"

    def forget(self, conn: _Conn) -> None:
        self._all.discard(conn)

    def release(self, conn: _Conn, reusable: bool) -> None:
        if reusable:
            conn.used_at = asyncio.get_running_loop().time()
            self._idle.append(conn)
        else:
            conn.abort()
            self._all.discard(conn)

    def free_slot(self) -> None:
        """Once per response handed out (``Response.close``), or per failed ``request``."""
        if self._slots is not None:
            self._slots.release()

    async def _connect(self, expect: Any) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                transport, conn = await loop.create_connection(
                    lambda: _Conn(self),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname="" if self._ssl is not None else None,
                )
        except TimeoutError as exc:
            raise ConnectFailed(f"connecting to {self.host}:{self.port} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(
                f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        self._all.add(conn)
        if self._on_connect is not None:
            try:
                conn.extra = self._on_connect(transport)
            except BaseException:
                conn.abort()
                self._all.discard(conn)
                raise
        if expect is not None and self._admit is not None:
            reason = self._admit(conn.extra, expect)
            if reason is not None:
                conn.abort()
                self._all.discard(conn)
                raise ConnectFailed(reason)
        return conn

    def _pooled(self, expect: Any) -> _Conn | None:
        idle = self._idle
        if not idle:
            return None
        oldest = asyncio.get_running_loop().time() - self._keepalive
        while idle:
            conn = idle.pop()
            if (
                conn.closed
                or conn.used_at < oldest
                or (
                    expect is not None
                    and self._admit is not None
                    and self._admit(conn.extra, expect) is not None
                )
            ):
                conn.abort()
                self._all.discard(conn)
                continue
            return conn
        return None

    async def request(
        self,
        verb: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body = b"",
        *,
        expect: Any = None,
    ) -> Response:
        """Send ``verb target`` with ``headers`` (no framing headers: they are set here)."""
        parts = [verb, " ", target, " HTTP/1.1\r\n", self._host_line]
        for name, value in headers:
            parts += (name, ": ", value, "\r\n")
        streamed = not isinstance(body, bytes)
        lines = len(headers) + 4  # request line, Host, the headers, a framing line, the blank one
        if streamed:
            parts.append("Transfer-Encoding: chunked\r\n\r\n")
        elif body or verb in _BODY_VERBS:
            parts += ("Content-Length: ", str(len(body)), "\r\n\r\n")  # type: ignore[arg-type]
        else:
            parts.append("\r\n")
            lines -= 1
        text = "".join(parts)
        if text.count("\n") != lines:  # a line break in a name, value or the target: refuse
            raise ValueError("a header or the target contains a line break")
        head = text.encode("utf-8", "surrogateescape")
        if self._slots is not None:
            await self._slots.acquire()
        try:
            return await self._exchange(verb, head, body, streamed, expect)
        except BaseException:
            self.free_slot()
            raise

    async def _exchange(
        self,
        verb: str,
        head: bytes,
        body: Body,
        streamed: bool,
        expect: Any,
    ) -> Response:
        retry_stale = not streamed and verb in _IDEMPOTENT
        while True:
            conn = self._pooled(expect)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(expect)
            response = conn.start(verb == "HEAD")
            transport = conn.transport
            assert transport is not None
            try:
                if streamed:
                    transport.write(head)
                    conn.body_task = asyncio.get_running_loop().create_task(
                        _send_chunked(conn, body)  # type: ignore[arg-type]
                    )
                else:
                    transport.write(head + body if body else head)  # type: ignore[operator]
                assert conn._head is not None
                await conn._head
            except ExchangeFailed:
                got_nothing = not conn._headers_seen and not response.headers
                conn.done(False)
                if reused and retry_stale and got_nothing:
                    retry_stale = False  # a stale pooled connection: once more, on a new one
                    continue
                raise
            except BaseException:  # cancelled (a timeout) or a bug: the connection is spent
                conn.done(False)
                raise
            if response._eof and not response._chunks:
                response.complete = b""
            elif response._eof:
                chunks = response._chunks
                response.complete = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                response._chunks = []
            if response.complete is not None and (conn.body_task is None or conn.body_task.done()):
                response.close()  # nothing more to read: the connection is free at once
            return response

    async def aclose(self) -> None:
        for conn in list(self._all):
            conn.abort()
        self._all.clear()
        self._idle.clear()


async def _send_chunked(conn: _Conn, body: AsyncIterable[bytes]) -> None:
    transport = conn.transport
    assert transport is not None
    try:
        async for chunk in body:
            if chunk:
                transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
                await conn.drain()
        transport.write(b"0\r\n\r\n")
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        # the request body failed (its source broke or timed out): the exchange is void
        conn._broken(ExchangeFailed(f"sending the request body: {str(exc) or type(exc).__name__}"))
        conn.abort()
