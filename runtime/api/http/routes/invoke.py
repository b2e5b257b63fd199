"""Service invocation over HTTP: ``ANY /v1.0/invoke/{app-id}/method/{path...}``, and any path
carrying the ``dapr-app-id`` header (the whole path is then the method).

``invoke_middleware`` answers both before the body-buffering middleware runs, so request and
response bodies stream through (a small body with a declared length is read first, so that
resiliency retries can resend it). The route is registered too, for route templates in
telemetry and for apps built without the middleware.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import unquote

from aiohttp import hdrs, web

from runtime.api.http.keys import SERVICES
from runtime.appchannel.base import Body, InvokeRequest
from runtime.internal.server import write_response
from runtime.services.invoke import APP_ID_HEADER
from runtime.services.invoke_errors import InvokeErrors

__all__ = ["direct", "invoke_by_path", "invoke_middleware", "routes"]

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_PREFIX = "/v1.0/invoke/"
_ROUTE = re.compile(r"^/v1\.0/invoke/([^/]*)/method/(.*)$")
_CHUNK = 64 * 1024
_READ_WHOLE = 64 * 1024  # a declared body up to this size is read first (retries can resend it)


async def _stream(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(_CHUNK):
        yield chunk


async def _invoke(request: web.Request, target: str, method: str) -> web.StreamResponse:
    body: Body = b""
    if request.body_exists:
        length = request.content_length
        body = (
            await request.read()
            if length is not None and length <= _READ_WHOLE
            else _stream(request)
        )
    reply = await request.app[SERVICES].invoke.invoke(
        target,
        InvokeRequest(
            method=method,
            verb=request.method,
            headers=tuple(request.headers.items()),
            query=request.rel_url.raw_query_string,
            body=body,
            content_type=request.headers.get("Content-Type", ""),
        ),
    )
    return await write_response(request, reply, internal=False)


def _by_path(request: web.Request) -> tuple[str, str] | None:
    match = _ROUTE.match(request.raw_path.split("?", 1)[0])
    if match is None:
        return None
    return unquote(match.group(1)), match.group(2)


@routes.route("*", "/v1.0/invoke/{app_id}/method/{method:.*}")
async def invoke_by_path(request: web.Request) -> web.StreamResponse:
    found = _by_path(request)
    if found is None:
        raise InvokeErrors.APP_ID_MISSING()
    return await _invoke(request, *found)


# a path-form call the router would match to ``invoke_by_path``, recognised on the raw path
# (an app id with percent-encoding or braces is left to the router)
_DIRECT = re.compile(r"^/v1\.0/invoke/[A-Za-z0-9._~!$&'()*+,;=:@-]+/method/")


def direct(request: web.BaseRequest) -> bool:
    """Whether ``request`` is a path-form invocation that can skip the router (and the other
    middleware, which pass invocations on): no ``dapr-app-id`` header, no ``Expect``."""
    headers = request.headers
    return (
        _DIRECT.match(request.raw_path) is not None
        and APP_ID_HEADER not in headers
        and hdrs.EXPECT not in headers
    )


@web.middleware
async def invoke_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Invocation requests go to the invocation service, unbuffered; others pass on."""
    target = request.headers.get(APP_ID_HEADER)
    if target is not None:
        return await _invoke(request, target, request.raw_path.split("?", 1)[0])
    if request.path.startswith(_PREFIX):
        found = _by_path(request)
        if found is not None:
            return await _invoke(request, *found)
    return await handler(request)
