"""Bounds on what slow, stalled or vanished HTTP clients can hold: time, connections, memory.

- **Header read timeout**: a connection must deliver a request's complete header block within
  ``header_timeout`` of its first byte (of being accepted, for a fresh connection); otherwise it
  is closed. aiohttp has no such timeout: ``GuardedRunner`` serves connections through
  ``_GuardedProtocol``, which stamps when a header phase starts, and one sweeper per server
  closes the overdue ones (a float store per request on the hot path, no timer per request).
- **Idle timeout**: a keep-alive connection with no request for ``idle_timeout`` is closed
  (aiohttp's ``keepalive_timeout``).
- **Body read timeout** and **in-flight budget** (``limits_middleware``): the body is read
  before the handler runs, within ``body_timeout`` (else 400 ``ERR_BODY_READ``, connection
  closed), and only while the bytes of all bodies being received or held stay within
  ``max_inflight_body`` (else 503 ``ERR_SERVER_BUSY`` at once, nothing buffered). A declared
  ``Content-Length`` is charged up front; a chunked body is charged ``max_body`` (it may grow
  that far). Handlers then get the body from ``request.read()``, which returns the bytes read
  here.
- **Memory comes back**: a body whose client vanished is dropped without reference cycles (its
  traceback is cleared), and once the budget drains after holding large bodies, glibc is asked
  to return free heap pages to the OS (``malloc_trim``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from runtime.api.http.errors import error_response
from runtime.errors import Errors

__all__ = [
    "BodyBudget",
    "Front",
    "GuardedHandlerRunner",
    "GuardedRunner",
    "HttpLimits",
    "limits_middleware",
]

log = logging.getLogger("tandem.api.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Front = Callable[
    [web.BaseRequest], Callable[[web.BaseRequest], Awaitable[web.StreamResponse]] | None
]
_MiB = 1 << 20


class HttpLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Every bound of the HTTP edge; seconds and bytes. A timeout of 0 disables it."""

    max_body: int = 4 * _MiB
    max_inflight_body: int = 32 * _MiB
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_line_size: int = 8 * 1024
    # a stalled client's unread body is drained (and discarded) this long before closing
    lingering_time: float = 2.0


class BodyBudget:
    """Bytes of request bodies being received or held, against ``limit``.

    ``reserve`` never waits: it grants or refuses. When the count drains to zero after at least
    ``trim_after`` bytes were held, free heap memory is handed back to the OS ``trim_delay``
    seconds later (if the count is still zero then; else at the next drain).
    """

    def __init__(self, limit: int, *, trim_after: int = 8 * _MiB, trim_delay: float = 1.0) -> None:
        self.limit = limit
        self.used = 0
        self._held_since_trim = 0
        self._trim_after = trim_after
        self._trim_delay = trim_delay
        self._trim_handle: asyncio.TimerHandle | None = None

    def reserve(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        self._held_since_trim += size
        return True

    def release(self, size: int) -> None:
        self.used -= size
        if (
            not self.used
            and self._trim_handle is None
            and self._held_since_trim >= self._trim_after
            and _malloc_trim is not None
        ):
            # not debounced by later releases: steady traffic must not postpone it forever
            loop = asyncio.get_running_loop()
            self._trim_handle = loop.call_later(self._trim_delay, self._trim)

    def _trim(self) -> None:
        self._trim_handle = None
        if self.used:  # bodies in flight again: try once they drain
            return
        self._held_since_trim = 0
        if _malloc_trim is not None:
            _malloc_trim(0)


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (returns free pages of every arena to the OS), else None."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    trim: Callable[[int], int] = fn
    return trim


_malloc_trim = _load_malloc_trim()


def _forget(exc: BaseException) -> None:
    """Drop the frames an exception keeps alive (and those of its chain): aiohttp stores a
    disconnect's exception in the request's payload, and its traceback holds the frames that
    held the request, a cycle that would keep a partly read body alive until a full GC."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if cur.__traceback__ is not None:
            traceback.clear_frames(cur.__traceback__)
            cur.__traceback__ = None
        cur = cur.__cause__ or cur.__context__


def _closing(response: web.Response) -> web.Response:
    response.force_close()
    return response


def limits_middleware(limits: HttpLimits, budget: BodyBudget | None = None) -> Middleware:
    """Read each request's body within the body timeout and the in-flight budget (see module
    docstring). Register it innermost, so unauthenticated requests never get a body read."""
    budget = budget or BodyBudget(limits.max_inflight_body)

    @web.middleware
    async def read_body_within_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        declared = request.content_length
        if declared is not None and declared > limits.max_body:
            return _closing(
                error_response(
                    Errors.BODY_TOO_LARGE(detail=f"{declared} bytes, limit {limits.max_body}")
                )
            )
        charge = limits.max_body if declared is None else declared
        if not budget.reserve(charge):
            response = error_response(Errors.SERVER_BUSY(metadata={"limit": str(budget.limit)}))
            response.headers[hdrs.RETRY_AFTER] = "1"
            return _closing(response)
        try:
            outcome = await _read(request, limits.body_timeout)
            if outcome is not None:
                return outcome
            return await handler(request)
        finally:
            budget.release(charge)

    return read_body_within_limits


async def _read(request: web.Request, seconds: float) -> web.Response | None:
    """Read the body into the request's cache; a response when that failed, else None."""
    try:
        if request.content.is_eof():  # all of it arrived with the headers: no wait, no timer
            await request.read()
        else:
            async with asyncio.timeout(seconds or None):
                await request.read()
    except TimeoutError as exc:
        _forget(exc)
        log.debug("body of %s %s not received in %ss", request.method, request.path, seconds)
        return _closing(error_response(Errors.BODY_READ_TIMEOUT(seconds=f"{seconds:g}")))
    except (ConnectionError, web.HTTPException, OSError) as exc:
        # the client went away mid-body (aiohttp raises ConnectionResetError or
        # ClientPayloadError) or sent more than the limit: no one to answer, or a 413
        _forget(exc)
        if isinstance(exc, web.HTTPRequestEntityTooLarge):
            return _closing(error_response(Errors.BODY_TOO_LARGE(detail=exc.text)))
        log.debug("client left during the body of %s %s", request.method, request.path)
        return _closing(error_response(Errors.CLIENT_DISCONNECTED()))
    except Exception as exc:  # aiohttp's payload errors (ClientPayloadError, ...)
        _forget(exc)
        return _closing(error_response(Errors.BODY_READ_FAILED(detail=type(exc).__name__)))
    return None


class _GuardedProtocol(RequestHandler):
    """aiohttp's connection protocol, stamped with when its current header phase began:
    ``header_since`` is set by the first byte after a response (or on accept) and cleared when
    a request's headers are complete. ``busy`` counts requests between those two points and
    the end of their response."""

    __slots__ = ("_clock", "busy", "header_since")

    def __init__(self, manager: web.Server, *, loop: asyncio.AbstractEventLoop, **kwargs: Any):
        super().__init__(manager, loop=loop, **kwargs)
        self._clock = loop.time
        self.header_since: float | None = None
        self.busy = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.header_since = self._clock()
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.header_since is None and not self.busy:
            self.header_since = self._clock()
        super().data_received(data)

    async def finish_response(
        self, request: BaseRequest, resp: StreamResponse, start_time: float | None
    ) -> tuple[StreamResponse, bool]:
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            self.busy -= 1


class _GuardedServer(web.Server):
    """aiohttp's server with ``_GuardedProtocol`` connections and a header-timeout sweeper."""

    def __init__(self, base: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        self._make = base.request_factory
        super().__init__(
            base.request_handler,
            request_factory=self._on_request,
            handler_cancellation=base.handler_cancellation,
            **kwargs,
        )
        self._protocol_kwargs = kwargs
        self._header_timeout = header_timeout
        self._sweeper: asyncio.Task[None] | None = None

    def __call__(self) -> RequestHandler:
        loop = asyncio.get_running_loop()
        if self._header_timeout > 0 and self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep(), name="http-header-timeout")
        return _GuardedProtocol(self, loop=loop, **self._protocol_kwargs)

    def _on_request(
        self,
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> BaseRequest:
        if isinstance(protocol, _GuardedProtocol):
            protocol.header_since = None
            protocol.busy += 1
        return self._make(message, payload, protocol, writer, task)

    async def _sweep(self) -> None:
        """Close connections whose header phase outlasted the timeout; runs until shutdown."""
        timeout = self._header_timeout
        tick = min(max(timeout / 4, 0.05), 1.0)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            cutoff = loop.time() - timeout
            for proto in self.connections:
                since = getattr(proto, "header_since", None)
                if since is not None and since < cutoff:
                    log.debug("closing a connection that sent no complete request headers")
                    proto.header_since = None  # type: ignore[attr-defined]
                    proto.force_close()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (aiohttp's)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await super().shutdown(timeout)


def _connection_options(limits: HttpLimits, kwargs: dict[str, Any]) -> dict[str, Any]:
    """aiohttp's per-connection options for ``limits`` (plus the caller's, e.g. ``access_log``)."""
    return {
        **kwargs,
        # aiohttp's keep-alive timer closes an idle connection; 0 would mean "at once"
        "keepalive_timeout": limits.idle_timeout or 3630.0,
        "max_line_size": limits.max_line_size,
        "max_field_size": limits.max_line_size,
        "lingering_time": limits.lingering_time,
    }


class GuardedRunner(web.AppRunner):
    """``web.AppRunner`` applying ``HttpLimits`` to every connection it serves. ``kwargs`` are
    ``AppRunner``'s (``shutdown_timeout``) and aiohttp's connection options (``access_log``).

    ``front(request)``, when given, sees each request before the application: a handler it
    returns serves the request instead (the application's router and middleware never run),
    None leaves it to the application."""

    def __init__(
        self,
        app: web.Application,
        *,
        limits: HttpLimits,
        shutdown_timeout: float = 60.0,
        front: Front | None = None,
        **kwargs: Any,
    ) -> None:
        self._server_kwargs = _connection_options(limits, kwargs)
        super().__init__(
            app, handle_signals=False, shutdown_timeout=shutdown_timeout, **self._server_kwargs
        )
        self._header_timeout = limits.header_timeout
        self._front = front

    async def _make_server(self) -> web.Server:
        # BaseRunner's factory hook: build the app's server as usual (app start-up included),
        # then serve it through the guarded protocol (the base server has no connections yet).
        base = await super()._make_server()
        front = self._front
        if front is not None:
            app_handler = base.request_handler

            async def handle(request: web.BaseRequest) -> web.StreamResponse:
                return await (front(request) or app_handler)(request)

            base.request_handler = handle
        return _GuardedServer(base, header_timeout=self._header_timeout, **self._server_kwargs)


class GuardedHandlerRunner(web.BaseRunner):
    """``GuardedRunner`` for aiohttp's low-level server: one ``handler`` gets every request
    (``web.BaseRequest``: no router, no middleware, no ``Expect`` handling; an
    ``HTTPException`` it raises is the response). Same limits, same drain on ``cleanup``."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        *,
        limits: HttpLimits,
        shutdown_timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        self._server_kwargs = _connection_options(limits, kwargs)
        super().__init__(handle_signals=False, shutdown_timeout=shutdown_timeout)
        self._handler = handler
        self._header_timeout = limits.header_timeout

    async def shutdown(self) -> None:
        pass

    async def _make_server(self) -> web.Server:
        base = web.Server(self._handler)
        return _GuardedServer(base, header_timeout=self._header_timeout, **self._server_kwargs)

    async def _cleanup_server(self) -> None:
        pass
