"""Shared by the shop's apps: the sidecar's address (from ``tandem run``) and a JSON caller.

The apps use plain aiohttp and the Dapr HTTP API, so any Dapr sidecar would serve them too.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web

__all__ = ["PUBSUB", "SIDECAR", "TOPIC", "app_port", "call", "serve"]

SIDECAR = f"http://127.0.0.1:{os.environ.get('DAPR_HTTP_PORT', '3500')}"
PUBSUB = os.environ.get("PUBSUB_NAME", "pubsub")
TOPIC = os.environ.get("ORDERS_TOPIC", "orders")


def app_port(default: int) -> int:
    return int(os.environ.get("APP_PORT", default))


async def call(session: ClientSession, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One call to the sidecar: (status, parsed JSON body or None). An unreachable sidecar
    (not started yet, restarting) answers 503 to the app's caller, who may retry."""
    try:
        async with session.request(method, SIDECAR + path, json=body) as resp:
            text = await resp.text()
            try:
                data = await resp.json(content_type=None) if text else None
            except ValueError:
                data = text
            return resp.status, data
    except ClientError as exc:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": f"sidecar {SIDECAR} unreachable: {exc}"}),
            content_type="application/json",
        ) from None


def serve(app: web.Application, default_port: int) -> None:
    """Run ``app`` on $APP_HOST (127.0.0.1):$APP_PORT, a client session in ``app["session"]``."""

    async def session_ctx(app: web.Application) -> Any:
        app["session"] = ClientSession(timeout=ClientTimeout(total=10))
        yield
        await app["session"].close()

    app.cleanup_ctx.append(session_ctx)
    host = os.environ.get("APP_HOST", "127.0.0.1")  # containers: 0.0.0.0 (probes, ports)
    web.run_app(app, host=host, port=app_port(default_port), print=None)
