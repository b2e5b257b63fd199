"""Shared by the shop's apps: names from the environment and the aiohttp server around them.

The apps use the Tandem SDK (``pip install ./sdk``, importable as ``tandem``): an
``AsyncClient`` for calls to their sidecar (``DAPR_HTTP_PORT``, set by ``tandem run``) and
``tandem.app.App`` for subscriptions and invocation handlers. Any Dapr sidecar serves them too.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from aiohttp import web
from tandem import AsyncClient

__all__ = ["CLIENT", "PUBSUB", "STORE", "TOPIC", "serve"]

PUBSUB = os.environ.get("PUBSUB_NAME", "pubsub")
TOPIC = os.environ.get("ORDERS_TOPIC", "orders")
STORE = os.environ.get("STATE_STORE", "statestore")
CLIENT: web.AppKey[AsyncClient] = web.AppKey("client", AsyncClient)


def serve(app: web.Application, default_port: int) -> None:
    """Run ``app`` on $APP_HOST (127.0.0.1):$APP_PORT, with an ``AsyncClient`` in
    ``app[CLIENT]``. It does not wait for the sidecar: a call while the sidecar is down raises
    ``SidecarUnavailable`` (the handlers answer 503; the caller may retry)."""

    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        async with AsyncClient(ready_timeout=None, timeout=10) as client:
            app[CLIENT] = client
            yield

    app.cleanup_ctx.append(client_ctx)
    host = os.environ.get("APP_HOST", "127.0.0.1")  # containers: 0.0.0.0 (probes, ports)
    web.run_app(app, host=host, port=int(os.environ.get("APP_PORT", default_port)), print=None)
