"""GrpcAppChannel against a real app built with the official SDK's ``dapr.ext.grpc.App``
(tests/integration/apps/grpc_callback_app.py, in a child process)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.appchannel.base import (
    API_TOKEN_HEADER,
    AppSubscription,
    AppUnavailable,
    BulkEntry,
    BulkSubscribe,
    BulkTopicEvent,
    CallGate,
    DeliveryStatus,
    InvokeRequest,
    TopicEvent,
    TopicRule,
)
from runtime.appchannel.grpc import GrpcAppChannel
from runtime.status import RuntimeStatus
from tests.integration.harness import REPO_ROOT, free_port, wait_until

APP = REPO_ROOT / "tests" / "integration" / "apps" / "grpc_callback_app.py"


@dataclass
class GrpcApp:
    port: int
    log: Path
    healthy: Path

    def events(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def grpc_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcApp]:
    tmp = tmp_path_factory.mktemp("grpc-app")
    app = GrpcApp(free_port(), tmp / "events.jsonl", tmp / "healthy")
    app.healthy.touch()
    proc = subprocess.Popen(
        [sys.executable, str(APP), str(app.port), str(app.log), str(app.healthy)],
        cwd=REPO_ROOT,
    )
    try:
        assert wait_until(lambda: _listening(app.port), 30), "the gRPC app did not start"
        yield app
    finally:
        proc.terminate()
        proc.wait(10)


def make_channel(
    app: GrpcApp,
    *,
    token: str | None = None,
    max_concurrency: int = -1,
    status: RuntimeStatus | None = None,
) -> GrpcAppChannel:
    if status is None:
        status = RuntimeStatus()
        status.app_ready = True
    gate = CallGate(status=status, health_checked=True, max_concurrency=max_concurrency)
    return GrpcAppChannel(
        host="127.0.0.1", port=app.port, gate=gate, app_token=token, health_timeout=5
    )


@pytest.fixture
async def channel(grpc_app: GrpcApp) -> AsyncIterator[GrpcAppChannel]:
    ch = make_channel(grpc_app, token="app-secret")
    yield ch
    await ch.aclose()


async def test_invoke_passes_data_metadata_and_token(channel: GrpcAppChannel) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"qty":'
        yield b"2}"

    request = InvokeRequest(
        method="echo",
        verb="put",
        query="a=1&b=two",
        headers=(("X-Trace", "t1"), ("Connection", "close"), (API_TOKEN_HEADER, "caller")),
        body=body(),
        content_type="application/json",
    )
    async with await channel.invoke(request) as response:
        answer = json.loads(await response.read())
    assert response.status == 200
    assert response.grpc_status == 0
    assert response.content_type == "application/json"
    assert ("x-echo", "1") in response.headers
    assert answer["data"] == '{"qty":2}'
    assert answer["content_type"] == "application/json"
    # The SDK's App does not hand the HTTP extension to handlers: see test_grpc_verbs.py.
    assert answer["metadata"]["x-trace"] == "t1"
    assert "connection" not in answer["metadata"]
    assert answer["metadata"][API_TOKEN_HEADER] == "app-secret"  # the caller's is not forwarded


async def test_invoke_without_verb_keeps_the_any_type(channel: GrpcAppChannel) -> None:
    request = InvokeRequest(
        method="echo", verb=None, body=b"x", data_type_url="type.googleapis.com/my.Type"
    )
    answer = json.loads(await (await channel.invoke(request)).read())
    assert answer["type_url"] == "type.googleapis.com/my.Type"


async def test_unknown_method_is_the_apps_answer_not_a_channel_error(
    channel: GrpcAppChannel,
) -> None:
    response = await channel.invoke(InvokeRequest(method="nope"))
    body = json.loads(await response.read())
    assert (response.status, response.grpc_status) == (501, 12)  # UNIMPLEMENTED
    assert body["code"] == 12
    assert "nope" in body["message"]


async def test_list_subscriptions(channel: GrpcAppChannel) -> None:
    subscriptions = await channel.list_subscriptions()
    assert subscriptions == [
        AppSubscription(
            pubsub_name="pubsub",
            topic="orders",
            # the default route (path "": the topic's default handler) always comes last
            rules=(TopicRule("event.type == 'priority'", "priority"), TopicRule("", "")),
            metadata={"rawPayload": "false"},
            dead_letter_topic="dead",
            bulk_subscribe=None,
        )
    ]
    assert not isinstance(subscriptions[0].bulk_subscribe, BulkSubscribe)


def cloud_event(event_id: str, data: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "source": "checkout",
        "type": "com.dapr.event.sent",
        "specversion": "1.0",
        "datacontenttype": "text/plain",
        "data": data,
        "topic": "orders",
        "pubsubname": "pubsub",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        **extra,
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("success", DeliveryStatus.SUCCESS),
        ("none", DeliveryStatus.SUCCESS),  # the SDK answers Empty: SUCCESS on the wire
        ("retry", DeliveryStatus.RETRY),
        ("drop", DeliveryStatus.DROP),
        ("boom", DeliveryStatus.RETRY),  # handler error → UNKNOWN status → retry
    ],
)
async def test_topic_event_status(
    channel: GrpcAppChannel, grpc_app: GrpcApp, data: str, expected: DeliveryStatus
) -> None:
    event_id = f"ev-{data}-{free_port()}"
    event = TopicEvent(
        pubsub_name="pubsub",
        topic="orders",
        path="",
        cloud_event=cloud_event(event_id, data),
        metadata={"x-broker": "b1"},
    )
    assert await channel.deliver_event(event) == expected
    (seen,) = [e for e in grpc_app.events() if e["id"] == event_id]
    assert seen["route"] == "default"
    assert seen["data"] == data
    assert seen["content_type"] == "text/plain"
    assert seen["type"] == "com.dapr.event.sent"
    assert seen["extensions"]["traceparent"].startswith("00-0af7")
    assert seen["metadata"]["x-broker"] == "b1"
    assert seen["metadata"][API_TOKEN_HEADER] == "app-secret"


async def test_topic_event_goes_to_the_matched_route(
    channel: GrpcAppChannel, grpc_app: GrpcApp
) -> None:
    event_id = f"ev-route-{free_port()}"
    event = TopicEvent(
        pubsub_name="pubsub",
        topic="orders",
        path="priority",
        cloud_event=cloud_event(event_id, "success", type="priority"),
    )
    assert await channel.deliver_event(event) == DeliveryStatus.SUCCESS
    (seen,) = [e for e in grpc_app.events() if e["id"] == event_id]
    assert seen["route"] == "priority"


async def test_event_for_an_unknown_topic_is_dropped(channel: GrpcAppChannel) -> None:
    event = TopicEvent(
        pubsub_name="pubsub", topic="unknown", path="", cloud_event=cloud_event("x", "success")
    )
    assert await channel.deliver_event(event) == DeliveryStatus.DROP


async def test_health_check_probe_follows_the_app(
    channel: GrpcAppChannel, grpc_app: GrpcApp
) -> None:
    assert await channel.health() is True
    grpc_app.healthy.unlink()
    try:
        assert await channel.health() is False
    finally:
        grpc_app.healthy.touch()
    assert await channel.health() is True


async def test_unhealthy_app_fails_fast(grpc_app: GrpcApp) -> None:
    status = RuntimeStatus()  # app_ready is False: health checks have not passed
    ch = make_channel(grpc_app, status=status)
    try:
        with pytest.raises(AppUnavailable, match="not in a healthy state"):
            await ch.invoke(InvokeRequest(method="echo"))
        with pytest.raises(AppUnavailable):
            await ch.deliver_event(
                TopicEvent(pubsub_name="p", topic="t", path="", cloud_event={"id": "1"})
            )
    finally:
        await ch.aclose()


async def test_health_probe_against_a_closed_port_is_false() -> None:
    status = RuntimeStatus()
    gate = CallGate(status=status, health_checked=False, max_concurrency=-1)
    ch = GrpcAppChannel(host="127.0.0.1", port=free_port(), gate=gate, health_timeout=0.5)
    try:
        assert await ch.health() is False
    finally:
        await ch.aclose()


async def test_max_concurrency_bounds_calls_into_the_app(grpc_app: GrpcApp) -> None:
    limited = make_channel(grpc_app, max_concurrency=2)
    control = make_channel(grpc_app)  # unlimited: releases and reads the app's counters

    async def call(ch: GrpcAppChannel, method: str) -> bytes:
        return await (await ch.invoke(InvokeRequest(method=method))).read()

    async def stats() -> dict[str, int]:
        result: dict[str, int] = json.loads(await call(control, "stats"))
        return result

    async def wait_for(predicate: Any) -> dict[str, int]:
        async with asyncio.timeout(20):
            while True:
                current = await stats()
                if predicate(current):
                    return current

    try:
        base = await stats()
        holds = [asyncio.create_task(call(limited, "hold")) for _ in range(5)]
        for released in range(5):
            in_flight = min(2, 5 - released)
            await wait_for(
                lambda s, n=in_flight, d=released: (
                    s["in_flight"] == n and s["done"] - base["done"] == d
                )
            )
            await call(control, "release")
        assert await asyncio.gather(*holds) == [b"held"] * 5
        final = await stats()
        assert final["peak"] == 2
        assert final["in_flight"] == 0
    finally:
        await limited.aclose()
        await control.aclose()


async def test_bulk_delivery_statuses_per_entry(channel: GrpcAppChannel, grpc_app: GrpcApp) -> None:
    tag = free_port()
    entries = tuple(
        BulkEntry(
            entry_id=f"{verdict}-{tag}",
            event=cloud_event(f"bulk-{verdict}-{tag}", verdict),
            content_type="application/cloudevents+json",
        )
        for verdict in ("success", "drop", "retry", "boom")
    )
    event = BulkTopicEvent(
        id=f"batch-{tag}", pubsub_name="pubsub", topic="orders", path="", entries=entries
    )
    assert await channel.deliver_bulk(event) == {
        f"success-{tag}": DeliveryStatus.SUCCESS,
        f"drop-{tag}": DeliveryStatus.DROP,
        f"retry-{tag}": DeliveryStatus.RETRY,
        f"boom-{tag}": DeliveryStatus.RETRY,
    }
    seen = {e["id"] for e in grpc_app.events()}
    assert {f"bulk-{v}-{tag}" for v in ("success", "drop", "retry", "boom")} <= seen


async def test_bulk_delivery_to_an_unknown_topic_drops_all(channel: GrpcAppChannel) -> None:
    event = BulkTopicEvent(
        id="b",
        pubsub_name="pubsub",
        topic="unknown",
        path="",
        entries=(BulkEntry(entry_id="1", event=b"raw"),),
    )
    assert await channel.deliver_bulk(event) == {"1": DeliveryStatus.DROP}
