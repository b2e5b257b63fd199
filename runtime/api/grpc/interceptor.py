"""The API interceptor: api-token check, body limit and error mapping for every RPC.

Handlers raise APIError; this turns it into a status with details. Any other exception is
logged and becomes INTERNAL, so no request can take the server down.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from runtime.api.grpc.errors import to_grpc_status
from runtime.errors import APIError, ErrorCode, Unauthenticated

__all__ = ["ApiInterceptor"]

log = logging.getLogger("tandem.api.grpc")

Behavior = Callable[[Any, aio.ServicerContext[Any, Any]], Awaitable[Any]]
_EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _check_token(context: aio.ServicerContext[Any, Any], token: bytes) -> None:
    given = b""
    for key, value in context.invocation_metadata() or ():
        if key == "dapr-api-token":
            given = value.encode() if isinstance(value, str) else value
    if not given:
        raise Unauthenticated(
            "missing api token in request metadata", code=ErrorCode.UNAUTHENTICATED
        )
    if not hmac.compare_digest(given, token):
        raise Unauthenticated(
            "authentication error: api token mismatch", code=ErrorCode.UNAUTHENTICATED
        )


class ApiInterceptor(aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, *, api_token: str | None) -> None:
        self._token = api_token.encode() if api_token else None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method: str = details.method
        check_token = self._token is not None and not method.startswith(_EXEMPT_PREFIXES)
        token = self._token
        inner: Behavior = handler.unary_unary

        async def behavior(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            try:
                if check_token and token is not None:
                    given = b""
                    for key, value in context.invocation_metadata() or ():
                        if key == "dapr-api-token":
                            given = value.encode() if isinstance(value, str) else value
                    if not given:
                        raise Unauthenticated(
                            "missing api token in request metadata", code=ErrorCode.UNAUTHENTICATED
                        )
                    if not hmac.compare_digest(given, token):
                        raise Unauthenticated(
                            "authentication error: api token mismatch",
                            code=ErrorCode.UNAUTHENTICATED,
                        )
                return await inner(request, context)
            except APIError as err:
                await context.abort_with_status(to_grpc_status(err))  # type: ignore[attr-defined]
            except aio.AbortError:
                raise
            except Exception:
                log.exception("unexpected error serving %s", method)
                await context.abort_with_status(  # type: ignore[attr-defined]
                    to_grpc_status(APIError("internal error", code=ErrorCode.INTERNAL))
                )

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
