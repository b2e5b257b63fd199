"""The internal server: answers peer sidecars' calls by calling the local app.

It listens on the internal port (``--dapr-internal-grpc-port``; a free port when unset), never
on the app-facing API ports, with the TLS context from ``tls``. Each request becomes an
``InvokeRequest`` for ``call_local`` (the invocation service), bodies streamed both ways.

A connection whose first request is an invocation is served by the lean HTTP/1.1 server
(``h1server``: the peers' pooled invocation connections); any other (gRPC proxying's tunnel,
``routes``) by aiohttp's low-level server below, which also answers an invocation that comes
on such a connection.

Bounds (``HttpLimits``, the same flags as the HTTP API): a peer must send a request's complete
headers within ``header_timeout`` of its first byte, and a streamed request body must make
progress at least every ``body_timeout`` seconds, else the connection is closed; an idle
keep-alive connection is closed after ``idle_timeout``.

With TLS, the server accepts plain TCP and runs the handshake itself (``_TlsAcceptor``), so a
refused handshake (plaintext, another CA, an expired or missing client certificate, or no
handshake within ``header_timeout``) is logged here with the peer's address and the reason;
asyncio's own TLS server would drop it silently and only the caller would see why.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import HttpVersion11, hdrs, web

from runtime.api.http.errors import error_response
from runtime.api.http.limits import GuardedHandlerRunner, HttpLimits
from runtime.appchannel.base import Body, InvokeRequest, InvokeResponse
from runtime.errors import APIError
from runtime.internal import tls, wire
from runtime.internal.h1server import BodyStalled, LeanServer
from runtime.security.gate import Gate

__all__ = ["BodyStalled", "CallLocal", "InternalServer", "PrefixRoute", "write_response"]

log = logging.getLogger("tandem.internal")

CallLocal = Callable[[InvokeRequest], Awaitable[InvokeResponse]]
_CHUNK = 64 * 1024
_WHOLE = 64 * 1024
_STRIPPED = frozenset({wire.VERB, wire.DATA_TYPE})


@lru_cache(maxsize=1024)
def _stripped(name: str) -> bool:
    return name.lower() in _STRIPPED


def _request(request: web.BaseRequest, body_timeout: float) -> InvokeRequest:
    raw_path = request.raw_path.split("?", 1)[0]
    body: Body = b""
    if request.body_exists:
        body = (
            request.content.read_nowait(-1)
            if _whole(request)
            else _stream(request, body_timeout or None)
        )
    headers = request.headers
    verb: str | None = request.method
    if headers.get(wire.VERB) == wire.VERB_NONE:
        verb = None
    stripped = _stripped
    return InvokeRequest(
        method=raw_path[len(wire.PATH_PREFIX) :],
        verb=verb,
        headers=tuple([(n, v) for n, v in headers.items() if not stripped(n)]),
        query=request.rel_url.raw_query_string,
        body=body,
        content_type=headers.get(hdrs.CONTENT_TYPE, ""),
        data_type_url=headers.get(wire.DATA_TYPE, ""),
    )


def _whole(request: web.BaseRequest) -> bool:
    """A small body that has fully arrived is handed on as bytes (keeps its Content-Length)."""
    length = request.content_length
    return length is not None and length <= _WHOLE and request.content.is_eof()


async def _stream(request: web.BaseRequest, idle: float | None) -> AsyncIterator[bytes]:
    """The body as it arrives; BodyStalled (and the connection closed) when a read waits
    longer than ``idle`` seconds."""
    content = request.content
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await content.read(_CHUNK)
        except TimeoutError:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            log.warning(
                "closing the connection from %s: its request body stalled for %ss", peer, idle
            )
            if request.transport is not None:
                request.transport.abort()
            raise BodyStalled(f"the request body stalled for {idle}s") from None
        if not chunk:
            return
        yield chunk


def _reason(exc: BaseException) -> str:
    """Why a TLS handshake failed, in words (never key material)."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        hints = {
            "HTTP_REQUEST": "plaintext HTTP on the TLS port",
            "WRONG_VERSION_NUMBER": "not TLS (plaintext?) or an older TLS version",
            "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the peer sent no client certificate",
            "TLSV1_ALERT_UNKNOWN_CA": "the peer does not trust our CA",
            "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the peer finds our certificate expired",
            "UNSUPPORTED_PROTOCOL": "the peer offers no TLS 1.3",
        }
        hint = hints.get(reason)
        return f"{hint} ({reason})" if hint else (reason or str(exc))
    if isinstance(exc, TimeoutError) or "handshake is taking longer" in str(exc):
        return "no TLS handshake within the timeout"
    return str(exc) or type(exc).__name__


def _tls_protocol_class(loop: asyncio.AbstractEventLoop) -> Any:
    """The loop's own TLS protocol: uvloop's (Cython) under uvloop, else asyncio's."""
    from asyncio import sslproto

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it exists
        return sslproto.SSLProtocol
    if isinstance(loop, uvloop.Loop):
        return uvloop.loop.SSLProtocol  # type: ignore[attr-defined]
    return sslproto.SSLProtocol


class _TlsAcceptor(asyncio.Protocol):
    """Accepts a TCP connection and puts the loop's TLS protocol (server side) between it and
    the HTTP protocol, as ``create_server(ssl=...)`` would, but watches the handshake: a failed
    one is logged with the peer's address and the reason. Done synchronously on accept, so no
    byte of the handshake can reach another protocol first."""

    def __init__(self, make: Callable[[], asyncio.Protocol], ctx: ssl.SSLContext, timeout: float):
        self._make = make
        self._ctx = ctx
        self._timeout = timeout or None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        waiter: asyncio.Future[None] = loop.create_future()
        protocol = _tls_protocol_class(loop)(
            loop,
            self._make(),
            self._ctx,
            waiter,
            server_side=True,
            call_connection_made=True,
            ssl_handshake_timeout=self._timeout,
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        waiter.add_done_callback(lambda done: _handshake_done(done, where))

    def data_received(self, data: bytes) -> None:  # pragma: no cover - replaced on accept
        pass


def _handshake_done(waiter: asyncio.Future[None], where: str) -> None:
    exc = None if waiter.cancelled() else waiter.exception()
    if exc is None:
        return
    if isinstance(exc, ssl.SSLError | TimeoutError) or "handshake is taking longer" in str(exc):
        log.warning(
            "refused a TLS connection from %s on the internal port: %s", where, _reason(exc)
        )
    else:  # the peer left mid-handshake (a port probe): not worth a warning
        log.debug("connection from %s closed during the TLS handshake: %s", where, exc)


async def write_response(
    request: web.BaseRequest, reply: InvokeResponse, *, internal: bool = True
) -> web.StreamResponse:
    """Stream ``reply`` to the client: status, headers, then the body as it comes. ``internal``
    adds the gRPC status and body type for the calling sidecar."""
    async with reply:
        complete = reply.complete_body
        response = (
            web.Response(status=reply.status, body=complete, headers=reply.headers)
            if complete is not None
            else web.StreamResponse(status=reply.status, headers=reply.headers)
        )
        if reply.content_type and hdrs.CONTENT_TYPE not in response.headers:
            response.headers[hdrs.CONTENT_TYPE] = reply.content_type
        if internal and reply.grpc_status:
            response.headers[wire.GRPC_STATUS] = str(reply.grpc_status)
        if internal and reply.data_type_url:
            response.headers[wire.DATA_TYPE] = reply.data_type_url
        if complete is not None:  # one write, with its Content-Length
            return response
        await response.prepare(request)
        async for chunk in reply:
            await response.write(chunk)
        await response.write_eof()
        return response


Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class PrefixRoute:
    """More handlers on the internal port: ``method`` requests whose raw path starts with
    ``prefix`` (gRPC proxying's tunnel)."""

    method: str
    prefix: str
    handler: Handler


async def _continue(request: web.BaseRequest) -> None:
    """``Expect: 100-continue`` answered as aiohttp's router would (417 for anything else)."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version != HttpVersion11:
        return
    if expect.lower() != "100-continue":
        raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the response proper has not started


class InternalServer:
    """aiohttp's low-level server (``GuardedHandlerRunner``), its few routes dispatched on the
    raw path's prefix: no router, request object or middleware chain per call beyond that."""

    def __init__(
        self,
        call_local: CallLocal,
        *,
        addresses: Sequence[str],
        port: int,
        grace: float = 5.0,
        gate: Gate | None = None,
        limits: HttpLimits | None = None,
        routes: Sequence[PrefixRoute] = (),
    ) -> None:
        """``routes``: more handlers on the same port (gRPC proxying's tunnel)."""
        self._call_local = call_local
        self._gate = gate
        self._limits = limits = limits or HttpLimits()
        self._routes = tuple(routes)
        self._runner = GuardedHandlerRunner(
            self._dispatch, limits=limits, access_log=None, shutdown_timeout=grace
        )
        self._grace = grace
        self._lean: LeanServer | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._addresses = addresses
        self._port = port
        self.port = port  # the bound port once started

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.raw_path
        handler: Handler = self._handle
        if not path.startswith(wire.PATH_PREFIX):
            for route in self._routes:
                if path.startswith(route.prefix):
                    if request.method != route.method:
                        raise web.HTTPMethodNotAllowed(request.method, [route.method])
                    handler = route.handler
                    break
            else:
                raise web.HTTPNotFound()
        if hdrs.EXPECT in request.headers:
            await _continue(request)
        return await handler(request)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            invoke = _request(request, self._limits.body_timeout)
            if self._gate is not None:  # mTLS identity and access control
                invoke = self._gate.admit(request.transport, invoke)
            reply = await self._call_local(invoke)
        except APIError as err:
            response = error_response(err)
            response.headers[wire.ERROR] = err.kind.name  # the calling sidecar re-raises it
            return response
        return await write_response(request, reply)

    async def start(self) -> None:
        await self._runner.setup()
        make = self._runner.server
        assert make is not None
        self._lean = lean = LeanServer(
            self._call_local, gate=self._gate, limits=self._limits, handoff=make
        )
        ctx = tls.server_context()
        factory: Callable[[], asyncio.Protocol] = lean
        if ctx is not None:
            timeout = self._limits.header_timeout

            def factory() -> asyncio.Protocol:
                return _TlsAcceptor(lean, ctx, timeout)

        loop = asyncio.get_running_loop()
        port = self._port
        for address in self._addresses:
            try:
                server = await loop.create_server(factory, address, port, reuse_address=True)
            except OSError as exc:
                await self.stop()
                raise OSError(
                    exc.errno,
                    f"cannot listen on {address}:{port} for sidecar-to-sidecar calls "
                    f"(--dapr-internal-grpc-port): {exc.strerror}",
                ) from exc
            self._servers.append(server)
            if port == 0:  # the other addresses take the port the first one got
                port = int(server.sockets[0].getsockname()[1])
        self.port = port

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        lean, self._lean = self._lean, None
        if lean is None:
            await self._runner.cleanup()
            return
        await asyncio.gather(lean.shutdown(self._grace), self._runner.cleanup())
