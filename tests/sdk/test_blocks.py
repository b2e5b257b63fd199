"""Pub/sub (both sides), secrets, configuration, invocation and flags through the SDK.

One sidecar with an aiohttp app built with ``tandem.app`` on its app port.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tandem import AsyncClient, BulkMessage, NotFound, TandemError
from tandem.app import App, CloudEvent, Drop, Retry

from tests.integration.harness import Sidecar, component_yaml
from tests.sdk._appserver import serve
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@dataclass
class Order:
    id: str
    qty: int


@dataclass
class Env:
    sidecar: Sidecar
    events: list[Any]
    attempts: dict[str, int]
    lock: threading.Lock


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("sdkblocks")
    config = tmp / "config.yaml"
    config.write_text('checkout.limit:\n  value: "100"\n  version: "7"\n')
    events: list[Any] = []
    attempts: dict[str, int] = {}
    lock = threading.Lock()
    app = App()

    @app.subscribe("pubsub", "orders")
    async def on_order(event: CloudEvent) -> None:
        order = event.data_as(Order)
        with lock:
            attempts[order.id] = attempts.get(order.id, 0) + 1
            n = attempts[order.id]
        if order.id.startswith("retry") and n < 2:
            raise Retry
        if order.id.startswith("drop"):
            raise Drop
        with lock:
            events.append((event.topic, order, n))

    @app.subscribe("pubsub", "raw")
    async def on_raw(event: CloudEvent) -> None:
        with lock:
            events.append(("raw", event.data, 1))

    @app.method("echo")
    async def echo(request: Any) -> dict[str, Any]:
        return {"got": request.json(), "method": request.method}

    comps = [
        component_yaml("pubsub", "pubsub.in-memory"),
        component_yaml("secretstore", "secretstores.local.env", {"prefix": "SDKTEST_"}),
        component_yaml("configstore", "configuration.file", {"path": str(config)}),
    ]
    with (
        serve(app) as port,
        Sidecar.start(
            tmp,
            components=comps,
            app_id="sdkblocks",
            args=["--app-port", str(port)],
            env={"SDKTEST_payments": "k-123"},
        ) as sc,
    ):
        sc.wait_ready()
        yield Env(sc, events, attempts, lock)


async def test_publish_delivers_typed_events_with_retry_and_drop(env: Env) -> None:
    async with AsyncClient(http_endpoint=env.sidecar.http_url) as client:
        await client.publish("pubsub", "orders", Order("ok-1", 2))
        await client.publish("pubsub", "orders", {"id": "retry-1", "qty": 1})
        await client.publish("pubsub", "orders", {"id": "drop-1", "qty": 1})
        await client.publish("pubsub", "raw", b"\x00bytes\xff")
        failed = await client.publish_bulk(
            "pubsub",
            "orders",
            [BulkMessage("e1", {"id": "bulk-1", "qty": 1}), BulkMessage("e2", Order("bulk-2", 2))],
        )
        assert failed == []
    want = {"ok-1", "retry-1", "bulk-1", "bulk-2"}

    def done() -> bool:
        with env.lock:
            got = {o.id for t, o, _ in env.events if t == "orders"}
            return want <= got and any(t == "raw" for t, _, _ in env.events)

    await eventually(done, within=10, interval=0.02)
    with env.lock:
        orders = {o.id: (o, n) for t, o, n in env.events if t == "orders"}
        raw = [d for t, d, _ in env.events if t == "raw"]
        assert orders["ok-1"] == (Order("ok-1", 2), 1)
        assert orders["retry-1"][1] == 2  # delivered again after RETRY
        assert "drop-1" not in orders
        assert env.attempts["drop-1"] == 1  # DROP: never again
    assert raw == [b"\x00bytes\xff"]


async def test_secrets_configuration_and_metadata(env: Env) -> None:
    async with AsyncClient(http_endpoint=env.sidecar.http_url) as client:
        assert await client.get_secret("secretstore", "payments") == {"payments": "k-123"}
        assert (await client.get_bulk_secret("secretstore"))["payments"] == {"payments": "k-123"}
        with pytest.raises(NotFound) as err:
            await client.get_secret("nostore", "x")
        assert err.value.code == "ERR_SECRET_STORE_NOT_FOUND"
        items = await client.get_configuration("configstore", ["checkout.limit"])
        assert items["checkout.limit"].value == "100"
        assert items["checkout.limit"].version == "7"
        await client.set_metadata("team", "sdk")
        meta = await client.get_metadata()
        assert meta["id"] == "sdkblocks"
        assert meta["extended"]["team"] == "sdk"
        assert {s["topic"] for s in meta["subscriptions"]} >= {"orders", "raw"}


async def _served(client: AsyncClient, path: str) -> bool:
    """Whether the sidecar serves ``path`` at all (else: 404 "no API route")."""
    try:
        await client.call("POST", path, body=b"{}")
    except TandemError as err:
        return not (err.status == 404 and "no API route" in err.message)
    return True


async def test_invocation_json_and_streaming(env: Env) -> None:
    async with AsyncClient(http_endpoint=env.sidecar.http_url) as client:
        if not await _served(client, "/v1.0/invoke/sdkblocks/method/echo"):
            pytest.skip("service invocation block not in this build (branch invoke not merged)")
        resp = await client.invoke("sdkblocks", "echo", json={"a": 1}, method="POST")
        assert resp.status == 200
        assert resp.json() == {"got": {"a": 1}, "method": "POST"}
        async with client.invoke_stream("sdkblocks", "echo", json=[1, 2]) as stream:
            body = b"".join([c async for c in stream])
        assert stream.status == 200
        assert body == b'{"got":[1,2],"method":"POST"}'
