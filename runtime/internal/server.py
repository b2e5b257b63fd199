"""The internal server: answers peer sidecars' calls by calling the local app.

It listens on the internal port (``--dapr-internal-grpc-port``; a free port when unset), never
on the app-facing API ports, with the TLS context from ``tls``. Each request becomes an
``InvokeRequest`` for ``call_local`` (the invocation service), bodies streamed both ways.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aiohttp import web

from runtime.api.http.errors import error_response
from runtime.appchannel.base import Body, InvokeRequest, InvokeResponse
from runtime.errors import APIError
from runtime.internal import tls, wire
from runtime.security.gate import Gate

__all__ = ["CallLocal", "InternalServer", "write_response"]

log = logging.getLogger("tandem.internal")

CallLocal = Callable[[InvokeRequest], Awaitable[InvokeResponse]]
_CHUNK = 64 * 1024
_WHOLE = 64 * 1024
_STRIPPED = frozenset({wire.VERB, wire.DATA_TYPE})


def _request(request: web.Request) -> InvokeRequest:
    raw_path = request.raw_path.split("?", 1)[0]
    body: Body = b""
    if request.body_exists:
        body = request.content.read_nowait(-1) if _whole(request) else _stream(request)
    verb: str | None = request.method
    if request.headers.get(wire.VERB) == wire.VERB_NONE:
        verb = None
    return InvokeRequest(
        method=raw_path[len(wire.PATH_PREFIX) :],
        verb=verb,
        headers=tuple((n, v) for n, v in request.headers.items() if n.lower() not in _STRIPPED),
        query=request.rel_url.raw_query_string,
        body=body,
        content_type=request.headers.get("Content-Type", ""),
        data_type_url=request.headers.get(wire.DATA_TYPE, ""),
    )


def _whole(request: web.Request) -> bool:
    """A small body that has fully arrived is handed on as bytes (keeps its Content-Length)."""
    length = request.content_length
    return length is not None and length <= _WHOLE and request.content.is_eof()


async def _stream(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(_CHUNK):
        yield chunk


async def write_response(
    request: web.Request, reply: InvokeResponse, *, internal: bool = True
) -> web.StreamResponse:
    """Stream ``reply`` to the client: status, headers, then the body as it comes. ``internal``
    adds the gRPC status and body type for the calling sidecar."""
    async with reply:
        complete = reply.complete_body
        response = (
            web.Response(status=reply.status, body=complete)
            if complete is not None
            else web.StreamResponse(status=reply.status)
        )
        for name, value in reply.headers:
            response.headers.add(name, value)
        if reply.content_type and "Content-Type" not in response.headers:
            response.headers["Content-Type"] = reply.content_type
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


class InternalServer:
    def __init__(
        self,
        call_local: CallLocal,
        *,
        addresses: Sequence[str],
        port: int,
        grace: float = 5.0,
        gate: Gate | None = None,
        routes: Sequence[web.RouteDef] = (),
    ) -> None:
        """``routes``: more handlers on the same port (gRPC proxying's tunnel)."""
        self._call_local = call_local
        self._gate = gate
        app = web.Application()
        app.router.add_route("*", wire.PATH_PREFIX + "{method:.*}", self._handle)
        app.router.add_routes(routes)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=grace)
        self._addresses = addresses
        self._port = port
        self.port = port  # the bound port once started

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            invoke = _request(request)
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
        port = self._port
        for address in self._addresses:
            site = web.TCPSite(self._runner, address, port, ssl_context=tls.server_context())
            try:
                await site.start()
            except OSError as exc:
                await self._runner.cleanup()
                raise OSError(
                    exc.errno,
                    f"cannot listen on {address}:{port} for sidecar-to-sidecar calls "
                    f"(--dapr-internal-grpc-port): {exc.strerror}",
                ) from exc
            if port == 0:  # the other addresses take the port the first one got
                port = int(self._runner.addresses[0][1])
        self.port = port

    async def stop(self) -> None:
        await self._runner.cleanup()
