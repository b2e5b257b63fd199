"""APIError → Dapr's JSON error body and status: the one HTTP mapping."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from runtime.errors import (
    APIError,
    ErrorCode,
    InvalidArgument,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)

__all__ = ["error_middleware", "error_response"]

log = logging.getLogger("tandem.api.http")
_ERRINFO = "type.googleapis.com/google.rpc.ErrorInfo"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(err: APIError) -> web.Response:
    body: dict[str, object] = {"errorCode": err.code.value, "message": err.message}
    if err.reason != err.code.value or err.metadata:
        body["details"] = [
            {"@type": _ERRINFO, "reason": err.reason, "domain": "dapr.io", "metadata": err.metadata}
        ]
    return web.Response(
        status=int(err.http_status), body=msgspec.json.encode(body), content_type="application/json"
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: every failure becomes a Dapr error body; nothing escapes as a crash."""
    try:
        return await handler(request)
    except APIError as err:
        return error_response(err)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(PayloadTooLarge(f"request body too large: {exc.text}"))
    except web.HTTPNotFound:
        return error_response(
            NotFound(
                f"no API route for {request.method} {request.path}", code=ErrorCode.BAD_REQUEST
            )
        )
    except web.HTTPMethodNotAllowed:
        return error_response(
            MethodNotAllowed(f"method {request.method} not allowed on {request.path}")
        )
    except web.HTTPException:
        raise
    except ConnectionResetError as exc:
        # aiohttp keeps a disconnect's exception in the request's payload: dropping its
        # traceback breaks the cycle (payload -> exception -> frames -> request) that would
        # keep the request's buffers alive until a full GC
        exc.__traceback__ = None
        if request.transport is None or request.transport.is_closing():
            # The client went away mid-request (e.g. while sending the body): not a server
            # error, and no one is left to answer.
            log.debug("client disconnected during %s %s", request.method, request.path)
            return error_response(InvalidArgument("client disconnected"))
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return error_response(APIError("internal error", code=ErrorCode.INTERNAL))
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return error_response(APIError("internal error", code=ErrorCode.INTERNAL))
