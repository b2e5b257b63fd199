"""The app side without a sidecar: tandem.testing and the ASGI entry point."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from tandem.app import App, CloudEvent, Drop, Request, Response, Retry, Status
from tandem.testing import call, cloud_event, deliver


@dataclass
class Order:
    id: str
    qty: int


def make_app(seen: list[Any]) -> App:
    app = App()

    @app.subscribe("pubsub", "orders", metadata={"rawPayload": "false"}, dead_letter_topic="dead")
    async def on_order(event: CloudEvent) -> Status | None:
        order = event.data_as(Order)
        seen.append(order)
        if order.qty < 0:
            raise Drop("negative")
        if order.qty == 0:
            raise Retry
        if order.qty > 100:
            raise RuntimeError("bug")
        return Status.DROP if order.id == "dup" else None

    @app.subscribe("pubsub", "raw", route="/raw")
    async def on_raw(event: CloudEvent) -> None:
        seen.append(event.data)

    @app.method("place")
    async def place(request: Request) -> Any:
        body = request.json()
        if body.get("text"):
            return "plain"
        if body.get("teapot"):
            return Response(b"short and stout", status=418, content_type="text/plain")
        return Order(body["id"], 1)

    return app


async def test_deliveries_map_results_and_exceptions_to_verdicts() -> None:
    seen: list[Any] = []
    app = make_app(seen)
    assert await deliver(app, "pubsub", "orders", {"id": "a", "qty": 2}) is Status.SUCCESS
    assert seen == [Order("a", 2)]
    assert await deliver(app, "pubsub", "orders", {"id": "a", "qty": 0}) is Status.RETRY
    assert await deliver(app, "pubsub", "orders", {"id": "a", "qty": -1}) is Status.DROP
    assert await deliver(app, "pubsub", "orders", {"id": "a", "qty": 101}) is Status.RETRY
    assert await deliver(app, "pubsub", "orders", {"id": "dup", "qty": 1}) is Status.DROP
    assert await deliver(app, "pubsub", "raw", b"\x00\x01") is Status.SUCCESS
    assert seen[-1] == b"\x00\x01"
    with pytest.raises(LookupError):
        await deliver(app, "pubsub", "unknown", {})


async def test_subscribe_document_and_invocation_answers() -> None:
    app = make_app([])
    assert app.subscriptions() == [
        {
            "pubsubname": "pubsub",
            "topic": "orders",
            "route": "/events/pubsub/orders",
            "metadata": {"rawPayload": "false"},
            "deadLetterTopic": "dead",
        },
        {"pubsubname": "pubsub", "topic": "raw", "route": "/raw"},
    ]
    resp = await call(app, "place", json={"id": "o-1"})
    assert (resp.status, resp.content_type, json.loads(resp.body)) == (
        200,
        "application/json",
        {"id": "o-1", "qty": 1},
    )
    assert (await call(app, "place", json={"text": True})).body == b"plain"
    assert (await call(app, "place", json={"teapot": True})).status == 418
    assert (await call(app, "place", data=b"not json")).status == 500
    assert (await call(app, "missing")).status == 404


async def test_method_templates_hand_their_segments_to_the_handler() -> None:
    app = App()

    @app.method("orders/{id}")
    async def get_order(request: Request) -> dict[str, str]:
        return {"id": request.path_params["id"], "method": request.method}

    @app.method("orders/{id}/items/{item}")
    async def get_item(request: Request) -> dict[str, str]:
        return dict(request.path_params)

    @app.method("orders/latest")  # an exact name wins over a template
    async def latest(request: Request) -> str:
        return "latest"

    resp = await call(app, "orders/o%2F1", method="GET")
    assert json.loads(resp.body) == {"id": "o/1", "method": "GET"}
    assert json.loads((await call(app, "orders/o-1/items/tea")).body) == {
        "id": "o-1",
        "item": "tea",
    }
    assert (await call(app, "orders/latest")).body == b"latest"
    assert (await call(app, "orders")).status == 404
    assert (await call(app, "orders/a/b")).status == 404
    for bad in ("orders/{id", "orders/{1x}", "a/{x}/{x}"):
        with pytest.raises(ValueError, match="bad method template"):
            app.method(bad)


def test_cloud_event_attributes_are_parsed() -> None:
    from tandem.app import parse_cloud_event

    ev = parse_cloud_event(cloud_event("ps", "t", {"a": 1}, subject="s1", custom="x"))
    assert (ev.pubsub, ev.topic, ev.data, ev.subject) == ("ps", "t", {"a": 1}, "s1")
    assert ev.extensions["custom"] == "x"
    raw = parse_cloud_event(b"just bytes", "application/octet-stream")
    assert raw.data == b"just bytes"


async def test_asgi_entry_point_serves_the_same_dispatcher() -> None:
    app = make_app([])

    async def run(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []
        chunks = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return chunks.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": b"",
            "headers": [(b"content-type", b"application/cloudevents+json")],
        }
        await app(scope, receive, send)  # type: ignore[arg-type]
        return sent[0]["status"], sent[1]["body"]

    status, body = await run("GET", "/dapr/subscribe", b"")
    assert status == 200
    assert [s["topic"] for s in json.loads(body)] == ["orders", "raw"]
    status, body = await run(
        "POST", "/events/pubsub/orders", cloud_event("pubsub", "orders", {"id": "x", "qty": 0})
    )
    assert (status, json.loads(body)) == (200, {"status": "RETRY"})
