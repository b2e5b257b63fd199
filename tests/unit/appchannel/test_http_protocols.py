"""``--app-protocol https`` and ``h2c`` through ``build_app_channel``, against real servers: an
aiohttp app with a self-signed certificate, and hypercorn speaking HTTP/2 without TLS."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from runtime.appchannel import build_app_channel
from runtime.appchannel.base import AppChannel, InvokeRequest
from runtime.config import AppProtocol, SidecarConfig
from runtime.status import RuntimeStatus
from tests.integration.harness import free_port

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def channel_for(protocol: AppProtocol, port: int) -> AppChannel:
    config = SidecarConfig(
        app_id="app", app_port=port, app_protocol=protocol, app_api_token="app-secret"
    )
    channel = await build_app_channel(config, RuntimeStatus())
    assert channel is not None
    return channel


async def test_no_app_port_means_no_channel() -> None:
    assert await build_app_channel(SidecarConfig(app_id="app"), RuntimeStatus()) is None


# --- https ------------------------------------------------------------------------------------


@pytest.fixture
async def https_port(self_signed: tuple[Path, Path]) -> AsyncIterator[int]:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "path": request.path,
                "secure": request.secure,
                "token": request.headers.get("dapr-api-token"),
            }
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def test_https_to_an_app_with_a_self_signed_certificate(https_port: int) -> None:
    channel = await channel_for(AppProtocol.HTTPS, https_port)
    try:
        async with await channel.invoke(InvokeRequest(method="orders", verb="GET")) as response:
            answer = json.loads(await response.read())
        assert answer == {"path": "/orders", "secure": True, "token": "app-secret"}
    finally:
        await channel.aclose()


# --- h2c --------------------------------------------------------------------------------------


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    digest, size = hashlib.sha256(), 0
    while True:
        message = await receive()
        digest.update(message.get("body", b""))
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    query = scope["query_string"].decode()
    if scope["path"] == "/download":
        total = int(query.removeprefix("size="))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        block = bytes(range(256)) * 256
        for start in range(0, total, len(block)):
            chunk = block[: min(len(block), total - start)]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    answer = {
        "http_version": scope["http_version"],
        "method": scope["method"],
        "path": scope["raw_path"].decode(),
        "query": query,
        "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
        "size": size,
        "sha256": digest.hexdigest(),
    }
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [(b"content-type", b"application/json"), (b"x-reply", b"yes")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


@pytest.fixture
async def h2c_port() -> AsyncIterator[int]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    stop = asyncio.Event()
    server = asyncio.create_task(serve(asgi_app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(20):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    await writer.wait_closed()
                    break
                await asyncio.sleep(0.02)
        yield port
    finally:
        stop.set()
        await server


async def test_h2c_speaks_http2_and_streams_both_ways(h2c_port: int) -> None:
    channel = await channel_for(AppProtocol.H2C, h2c_port)
    size = 3 * 1024 * 1024 + 1
    data = (bytes(range(256)) * (size // 256 + 1))[:size]

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, size, 65536):
            yield data[start : start + 65536]

    try:
        request = InvokeRequest(
            method="api/orders",
            verb="PUT",
            query="a=1&b=x%20y",
            headers=(("X-Custom", "c"), ("Connection", "keep-alive")),
            body=body(),
            content_type="application/octet-stream",
        )
        async with await channel.invoke(request) as response:
            answer = json.loads(await response.read())
            assert response.status == 202
            assert ("x-reply", "yes") in response.headers
        assert answer["http_version"] == "2"
        assert (answer["method"], answer["path"], answer["query"]) == (
            "PUT",
            "/api/orders",
            "a=1&b=x%20y",
        )
        assert answer["headers"]["x-custom"] == "c"
        assert answer["headers"]["dapr-api-token"] == "app-secret"
        assert answer["headers"]["content-type"] == "application/octet-stream"
        assert (answer["size"], answer["sha256"]) == (size, hashlib.sha256(data).hexdigest())

        download = InvokeRequest(method="download", verb="GET", query=f"size={size}")
        received, chunks = 0, 0
        async with await channel.invoke(download) as response:
            async for chunk in response:
                received += len(chunk)
                chunks += 1
        assert received == size
        assert chunks > 1
    finally:
        await channel.aclose()
