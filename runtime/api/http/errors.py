"""APIError → Dapr's JSON error body and status: the one HTTP mapping.

Body: ``{"errorCode", "message"}``, plus ``details`` (ErrorInfo, ResourceInfo, BadRequest, as
Dapr's rich errors send them, snake_case inside) when the error carries any of them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from runtime.errors import DOMAIN, APIError, Errors

__all__ = ["answer_error", "error_body", "error_middleware", "error_response"]

log = logging.getLogger("tandem.api.http")
_TYPE = "type.googleapis.com/google.rpc."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _details(err: APIError) -> list[dict[str, Any]]:
    kind = err.kind
    out: list[dict[str, Any]] = [
        {
            "@type": _TYPE + "ErrorInfo",
            "reason": err.reason,
            "domain": DOMAIN,
            "metadata": err.metadata,
        }
    ]
    if kind.resource_type and err.resource is not None:
        out.append(
            {
                "@type": _TYPE + "ResourceInfo",
                "resource_type": kind.resource_type,
                "resource_name": err.resource,
                "owner": "",
                "description": "",
            }
        )
    if err.violations:
        out.append(
            {
                "@type": _TYPE + "BadRequest",
                "field_violations": [
                    {"field": v.field, "description": v.description} for v in err.violations
                ],
            }
        )
    return out


def error_body(err: APIError) -> dict[str, Any]:
    err = err.bounded()
    body: dict[str, Any] = {"errorCode": err.code, "message": err.message}
    if (
        err.kind.reason
        or err.metadata
        or err.violations
        or (err.kind.resource_type and err.resource is not None)
    ):
        body["details"] = _details(err)
    return body


def error_response(err: APIError) -> web.Response:
    return web.Response(
        status=int(err.http_status),
        body=msgspec.json.encode(error_body(err)),
        content_type="application/json",
    )


def answer_error(request: web.BaseRequest, exc: Exception) -> web.Response:
    """The Dapr error response for a failure of ``request``; an ``HTTPException`` other than
    404/405/413 is re-raised (aiohttp answers it). Call it from an ``except Exception``."""
    if isinstance(exc, APIError):
        return error_response(exc)
    if isinstance(exc, web.HTTPException):
        if isinstance(exc, web.HTTPRequestEntityTooLarge):
            return error_response(Errors.BODY_TOO_LARGE(detail=exc.text))
        if isinstance(exc, web.HTTPNotFound):
            return error_response(Errors.ROUTE_NOT_FOUND(method=request.method, path=request.path))
        if isinstance(exc, web.HTTPMethodNotAllowed):
            return error_response(
                Errors.METHOD_NOT_ALLOWED(method=request.method, path=request.path)
            )
        raise exc
    if isinstance(exc, ConnectionResetError):
        # aiohttp keeps a disconnect's exception in the request's payload: dropping its
        # traceback breaks the cycle (payload -> exception -> frames -> request) that would
        # keep the request's buffers alive until a full GC
        exc.__traceback__ = None
        if request.transport is None or request.transport.is_closing():
            # The client went away mid-request (e.g. while sending the body): not a server
            # error, and no one is left to answer.
            log.debug("client disconnected during %s %s", request.method, request.path)
            return error_response(Errors.CLIENT_DISCONNECTED())
    log.exception("unexpected error serving %s %s", request.method, request.path)
    return error_response(Errors.INTERNAL())


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a Dapr error body; nothing escapes as a crash."""
    try:
        return await handler(request)
    except Exception as exc:
        return answer_error(request, exc)
