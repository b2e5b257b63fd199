"""Build and run the HTTP API server inside the runtime's event loop.

Middleware order, outermost first: in-flight count (for the drain), telemetry (span, metrics,
API log; sees the final status), errors (every failure becomes a Dapr error body), auth
(``dapr-api-token``), the blocks' own middleware (service invocation, which streams), body
limits (reads the body within its timeout and budget), the handler.
Connections are served by ``limits.GuardedRunner`` (header/idle timeouts).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

from runtime.api.blocks import BLOCKS, Block
from runtime.api.http.auth import auth_middleware
from runtime.api.http.errors import error_middleware
from runtime.api.http.keys import SERVICES
from runtime.api.http.limits import GuardedRunner, HttpLimits, limits_middleware
from runtime.services import Services

__all__ = ["HttpServer", "build_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _InFlight:
    """Requests being handled; ``idle`` is set when there are none."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()


_IN_FLIGHT = web.AppKey("in_flight", _InFlight)


@web.middleware
async def _count_in_flight(request: web.Request, handler: Handler) -> web.StreamResponse:
    in_flight = request.app[_IN_FLIGHT]
    in_flight.count += 1
    in_flight.idle.clear()
    try:
        return await handler(request)
    finally:
        in_flight.count -= 1
        if not in_flight.count:
            in_flight.idle.set()


def build_app(
    *,
    services: Services,
    max_body_size: int,
    api_token: str | None = None,
    telemetry: Sequence[Middleware] = (),
    blocks: Sequence[Block] = BLOCKS,
    limits: HttpLimits | None = None,
) -> web.Application:
    """The HTTP API: every block's routes (``blocks``) over ``services``."""
    limits = limits or HttpLimits(max_body=max_body_size)
    chain: list[Middleware] = [_count_in_flight, *telemetry, error_middleware]
    if api_token:
        chain.append(auth_middleware(api_token))
    chain.extend(m for block in blocks for m in block.http_middleware)
    chain.append(limits_middleware(limits))
    app = web.Application(middlewares=chain, client_max_size=max_body_size)
    app[_IN_FLIGHT] = _InFlight()
    app[SERVICES] = services
    for block in blocks:
        for routes in block.http:
            app.add_routes(routes)
    return app


class HttpServer:
    """Serves ``app`` on ``port`` at each address; ``stop`` drains for up to ``grace`` s."""

    def __init__(
        self,
        app: web.Application,
        *,
        addresses: Sequence[str],
        port: int,
        grace: float = 5.0,
        limits: HttpLimits | None = None,
    ) -> None:
        self._runner = GuardedRunner(
            app, limits=limits or HttpLimits(), access_log=None, shutdown_timeout=grace
        )
        self._in_flight = app.get(_IN_FLIGHT)
        self._grace = grace
        self._addresses = addresses
        self._port = port

    async def start(self) -> None:
        await self._runner.setup()
        for address in self._addresses:
            site = web.TCPSite(self._runner, address, self._port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                await self._runner.cleanup()
                raise OSError(
                    exc.errno,
                    f"cannot listen on {address}:{self._port} for the HTTP API: {exc.strerror}",
                ) from exc

    async def stop(self) -> None:
        """Stop accepting connections, let the requests in flight finish (up to the grace
        period), then close. aiohttp's own shutdown stops reading request bodies, so a request
        still receiving its body when that starts could never complete; hence the wait first."""
        for site in list(self._runner.sites):
            await site.stop()
        if self._in_flight is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._grace):
                    await self._in_flight.idle.wait()
        await self._runner.cleanup()
