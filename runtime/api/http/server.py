"""Build and run the HTTP API server inside the runtime's event loop.

Middleware order, outermost first: the edge (``edge_middleware``: in-flight count for the
drain, telemetry (span, metrics, API log; sees the final status), errors (every failure becomes
a Dapr error body), auth (``dapr-api-token``), folded into one), the blocks' own middleware
(service invocation, which streams), body limits (reads the body within its timeout and
budget), the handler.
Connections are served by ``limits.GuardedRunner`` (header/idle timeouts).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from runtime.api.blocks import BLOCKS, Block
from runtime.api.http.auth import EXEMPT_PATHS
from runtime.api.http.errors import answer_error
from runtime.api.http.keys import SERVICES
from runtime.api.http.limits import Front, GuardedRunner, HttpLimits, limits_middleware
from runtime.api.http.routes import invoke as invoke_routes
from runtime.api.token import HEADER, token_error
from runtime.observability.http_telemetry import CLIENT_CLOSED, HttpTelemetry
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
_FRONT: web.AppKey[Front] = web.AppKey("front")


def edge_middleware(
    in_flight: _InFlight, telemetry: HttpTelemetry | None, api_token: str | None
) -> Middleware:
    """In-flight count, telemetry, error mapping and the token check, folded into one
    middleware (one frame per request instead of four), in that order from the outside: the
    drain sees every request, telemetry records the status the client gets, every failure
    becomes a Dapr error body, and a refused token is such an error."""
    expected = api_token.encode() if api_token else None
    exempt = EXEMPT_PATHS
    idle = in_flight.idle

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        in_flight.count += 1
        idle.clear()
        call = telemetry.start(request) if telemetry is not None else None
        status = 500
        try:
            try:
                if expected is not None and request.path not in exempt:
                    err = token_error(request.headers.get(HEADER), expected)
                    if err is not None:
                        raise err
                response = await handler(request)
            except Exception as exc:
                response = answer_error(request, exc)  # re-raises other HTTPExceptions
            status = response.status
            if call is not None:
                call.answered(response)
            return response
        except web.HTTPException as exc:
            status = exc.status
            if call is not None:
                call.answered(exc)
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        except BaseException as exc:
            if call is not None:
                call.failed(exc)
            raise
        finally:
            if telemetry is not None and call is not None:
                telemetry.finish(call, status)
            in_flight.count -= 1
            if not in_flight.count:
                idle.set()

    return edge


def build_app(
    *,
    services: Services,
    max_body_size: int,
    api_token: str | None = None,
    telemetry: HttpTelemetry | None = None,
    blocks: Sequence[Block] = BLOCKS,
    limits: HttpLimits | None = None,
) -> web.Application:
    """The HTTP API: every block's routes (``blocks``) over ``services``."""
    limits = limits or HttpLimits(max_body=max_body_size)
    in_flight = _InFlight()
    chain: list[Middleware] = [edge_middleware(in_flight, telemetry, api_token)]
    chain.extend(m for block in blocks for m in block.http_middleware)
    chain.append(limits_middleware(limits))
    app = web.Application(middlewares=chain, client_max_size=max_body_size)
    app[_IN_FLIGHT] = in_flight
    app[SERVICES] = services
    for block in blocks:
        for routes in block.http:
            app.add_routes(routes)
    if invoke_routes.invoke_middleware in chain:
        app[_FRONT] = _invoke_front(app, chain[0])
    return app


def _invoke_front(app: web.Application, edge: Middleware) -> Front:
    """Path-form invocations (``invoke_routes.direct``) go from the edge straight to their
    handler: the router would pick ``invoke_by_path`` and the middleware between would pass
    them on, so both are skipped; the request gets the match the router would have given it
    (route template for telemetry, ``request.app``)."""
    route = next(r for r in app.router.routes() if r.handler is invoke_routes.invoke_by_path)
    match = UrlMappingMatchInfo({}, route)
    match.add_app(app)
    match.freeze()
    handler = invoke_routes.invoke_by_path
    direct = invoke_routes.direct

    async def invoke(request: web.BaseRequest) -> web.StreamResponse:
        assert isinstance(request, web.Request)
        request._match_info = match  # what the router sets (aiohttp has no public setter)
        return await edge(request, handler)

    def front(
        request: web.BaseRequest,
    ) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]] | None:
        return invoke if direct(request) else None

    return front


# After the drain, handlers still running are cancelled; this bounds their unwinding (aiohttp
# reads a timeout of 0 as "no limit", so a forced stop still passes a small positive one).
_CANCEL_WAIT = 0.25


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
            app,
            limits=limits or HttpLimits(),
            front=app.get(_FRONT),
            access_log=None,
            shutdown_timeout=_CANCEL_WAIT,
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

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting connections, let the requests in flight finish (up to ``grace``, by
        default the server's grace period; 0 for a forced stop), cancel the rest, then close.
        aiohttp's own shutdown stops reading request bodies, so a request still receiving its
        body when that starts could never complete; hence the wait first."""
        grace = self._grace if grace is None else grace
        for site in list(self._runner.sites):
            await site.stop()
        if self._in_flight is not None and grace > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._in_flight.idle.wait()
        await self._runner.cleanup()
