"""The HTTP API's shortcut for path-form invocations (``GuardedRunner(front=...)``): the same
edge (token, telemetry with the route template, errors) as through the router."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest

from runtime.api.http.server import HttpServer, build_app
from runtime.appchannel.base import InvokeRequest, InvokeResponse
from runtime.observability.http_telemetry import HttpCall, HttpTelemetry
from runtime.services import Services

TOKEN = "s3cret"
TEMPLATE = "/v1.0/invoke/{app_id}/method/{method}"


class _Invoke:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def invoke(self, target: str, request: InvokeRequest) -> InvokeResponse:
        self.calls.append((target, request.method))
        return InvokeResponse(status=200, content_type="text/plain", body=b"hi " + target.encode())


class _Recorded(HttpTelemetry):
    def __init__(self) -> None:
        super().__init__(None, app_id="me")
        self.seen: list[tuple[str, int]] = []

    def finish(self, call: HttpCall, status: int) -> None:
        self.seen.append((call.route, status))
        super().finish(call, status)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def api() -> AsyncIterator[tuple[str, _Invoke, _Recorded]]:
    invoke, telemetry = _Invoke(), _Recorded()
    services = cast(Services, SimpleNamespace(invoke=invoke))
    app = build_app(services=services, max_body_size=1 << 20, api_token=TOKEN, telemetry=telemetry)
    port = _port()
    server = HttpServer(app, addresses=["127.0.0.1"], port=port)
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}", invoke, telemetry
    finally:
        await server.stop(0)


async def _get(url: str, **headers: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
        return r.status, await r.read()


async def test_a_path_form_call_keeps_the_edge(api: tuple[str, _Invoke, Any]) -> None:
    base, invoke, telemetry = api
    assert (await _get(f"{base}/v1.0/invoke/app/method/a/b", **{"dapr-api-token": TOKEN})) == (
        200,
        b"hi app",
    )
    assert invoke.calls == [("app", "a/b")]
    assert telemetry.seen == [(TEMPLATE, 200)]
    status, _ = await _get(f"{base}/v1.0/invoke/app/method/a")  # no token
    assert status == 401
    assert invoke.calls == [("app", "a/b")]
    assert telemetry.seen[-1] == (TEMPLATE, 401)


async def test_other_forms_still_go_through_the_router(api: tuple[str, _Invoke, Any]) -> None:
    base, invoke, telemetry = api
    token = {"dapr-api-token": TOKEN}
    status, body = await _get(f"{base}/anything/here", **token, **{"dapr-app-id": "app2"})
    assert (status, body) == (200, b"hi app2")
    status, _ = await _get(f"{base}/v1.0/invoke/a%2Fb/method/x", **token)
    assert status == 200
    assert invoke.calls == [("app2", "/anything/here"), ("a/b", "x")]
    assert telemetry.seen[-1] == (TEMPLATE, 200)
