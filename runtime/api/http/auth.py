"""The HTTP API token middleware: every route but health needs ``dapr-api-token``.

It runs inside the error middleware, so a refusal is the table's 401 JSON error body
(``ERR_UNAUTHENTICATED``), like every other error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from runtime.api.token import HEADER, token_error

__all__ = ["EXEMPT_PATHS", "auth_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EXEMPT_PATHS = frozenset({"/v1.0/healthz", "/v1.0/healthz/outbound"})


def auth_middleware(token: str) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in EXEMPT_PATHS:
            err = token_error(request.headers.get(HEADER), expected)
            if err is not None:
                raise err
        return await handler(request)

    return auth
