"""aiohttp's low-level ``web.Server`` against ``web.Application`` and Tandem's HTTP API.

    python bench/http_server.py [--rounds 3] [--duration 3] [--concurrency 16]

Each variant answers ``GET /v1.0/healthz/outbound`` with 204 in its own process (uvloop, as the
sidecar runs), driven by one aiohttp client session at ``--concurrency`` keep-alive
connections; the figure is the server's CPU time per request (see ``_servers``):

- ``server``: ``web.Server`` with one handler function (no router, no middleware): aiohttp's
  floor for a request.
- ``application``: ``web.Application``, the route in its router, no middleware.
- ``app+1mw``: the same with one pass-through middleware (what one middleware layer costs).
- ``tandem``: Tandem's ``build_app`` (every block's routes, its middleware chain, telemetry with
  metrics on, tracing off) served by its ``GuardedRunner``: the API's own floor. Run this
  script with ``PYTHONPATH`` set to another checkout to measure that revision's chain.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from _servers import Call, measure_variants, table
from aiohttp import web

VARIANTS = ("server", "application", "app+1mw", "tandem")
PATH = "/v1.0/healthz/outbound"


async def _noop(request: web.BaseRequest) -> web.Response:
    return web.Response(status=204)


@web.middleware
async def _passthrough(request: web.Request, handler: Any) -> web.StreamResponse:
    return await handler(request)  # type: ignore[no-any-return]


def _tandem_app() -> web.Application:
    from runtime.api.http import server
    from runtime.observability.metrics import Metrics

    services: Any = SimpleNamespace(status=SimpleNamespace(outbound_ready=True))
    metrics = Metrics("bench", process_metrics=False)
    try:  # this revision: one edge middleware taking the telemetry object
        from runtime.observability.http_telemetry import HttpTelemetry

        telemetry: Any = HttpTelemetry(metrics, app_id="bench")
    except ImportError:  # older revisions: telemetry as a middleware of its own
        from runtime.observability.http_telemetry import http_middleware

        telemetry = [http_middleware(metrics, app_id="bench")]
    return server.build_app(services=services, max_body_size=4 << 20, telemetry=telemetry)


async def _serve(variant: str, port: int) -> None:
    runner: web.BaseRunner
    if variant == "server":
        runner = web.ServerRunner(web.Server(_noop), handle_signals=False, access_log=None)
    elif variant == "tandem":
        from runtime.api.http.limits import GuardedRunner, HttpLimits

        runner = GuardedRunner(_tandem_app(), limits=HttpLimits(), access_log=None)
    else:
        app = web.Application(middlewares=[_passthrough] if variant == "app+1mw" else [])
        app.router.add_get(PATH, _noop)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def _connect(port: int) -> tuple[Call, Any]:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    url = f"http://127.0.0.1:{port}{PATH}"

    async def call() -> None:
        async with session.get(url) as resp:
            await resp.read()
            if resp.status != 204:
                raise RuntimeError(f"{resp.status}")

    return call, session.close


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--serve", choices=VARIANTS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=16)
    ns = parser.parse_args(argv)
    if ns.serve:
        import uvloop

        uvloop.run(_serve(ns.serve, ns.port))
        return 0
    variants = [v for v in ns.variants.split(",") if v]
    results = measure_variants(
        Path(__file__).resolve(),
        variants,
        _connect,
        concurrency=ns.concurrency,
        rounds=ns.rounds,
        warmup=ns.warmup,
        duration=ns.duration,
    )
    print(f"\nHTTP server, GET {PATH} -> 204, c={ns.concurrency}, best of {ns.rounds} rounds\n")
    print(table(results, variants[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
