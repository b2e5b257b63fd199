"""HttpAppChannel against a real aiohttp app served in-process on a free port."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from runtime.appchannel._transport import H1Transport
from runtime.appchannel.base import (
    API_TOKEN_HEADER,
    AppChannelError,
    AppSubscription,
    AppUnavailable,
    BulkEntry,
    BulkSubscribe,
    BulkTopicEvent,
    CallGate,
    DeliveryStatus,
    InvalidInvokeRequest,
    InvokeRequest,
    TopicEvent,
    TopicRule,
)
from runtime.appchannel.http import HttpAppChannel
from runtime.status import RuntimeStatus
from tests.integration.harness import free_port

CHUNK = 64 * 1024


def pattern(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


@dataclass
class AppState:
    healthy: bool = True
    subscribe: tuple[int, str] = (200, "[]")
    events: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    reply: str = ""  # body of the answer to the next event
    in_flight: int = 0
    peak: int = 0
    tickets: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(0))


def build_app(state: AppState) -> web.Application:
    async def echo(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        answer = {
            "method": request.method,
            "path": request.raw_path.split("?")[0],
            "query": request.raw_path.partition("?")[2],
            "headers": [[k, v] for k, v in request.headers.items()],
            "body": body.decode(errors="replace"),
        }
        status = int(request.headers.get("x-want-status", "200"))
        return web.json_response(answer, status=status, headers={"X-Reply": "yes"})

    async def upload(request: web.Request) -> web.Response:
        digest, size, chunks = hashlib.sha256(), 0, 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
            chunks += 1
        return web.json_response(
            {
                "size": size,
                "sha256": digest.hexdigest(),
                "chunked": request.headers.get("Transfer-Encoding"),
            }
        )

    async def download(request: web.Request) -> web.StreamResponse:
        size = int(request.query["size"])
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        data = pattern(size)
        for start in range(0, size, CHUNK):
            await response.write(data[start : start + CHUNK])
        await response.write_eof()
        return response

    async def subscribe(request: web.Request) -> web.Response:
        status, text = state.subscribe
        return web.Response(status=status, text=text, content_type="application/json")

    async def event(request: web.Request) -> web.Response:
        state.events.append((dict(request.headers), await request.read()))
        return web.Response(status=int(request.match_info["status"]), text=state.reply)

    async def hold(request: web.Request) -> web.Response:
        state.in_flight += 1
        state.peak = max(state.peak, state.in_flight)
        try:
            async with asyncio.timeout(30):
                await state.tickets.acquire()
        finally:
            state.in_flight -= 1
        return web.Response(text="held")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(status=200 if state.healthy else 503)

    app = web.Application()
    app.router.add_post("/upload", upload)
    app.router.add_get("/download", download)
    app.router.add_get("/dapr/subscribe", subscribe)
    app.router.add_post("/events/{status}", event)
    app.router.add_post("/hold", hold)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@pytest.fixture
async def app_state() -> AsyncIterator[tuple[AppState, int]]:
    state = AppState()
    runner = web.AppRunner(build_app(state), handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield state, port
    finally:
        await runner.cleanup()


Factory = Callable[..., HttpAppChannel]


@pytest.fixture
async def make(app_state: tuple[AppState, int]) -> AsyncIterator[Factory]:
    channels: list[HttpAppChannel] = []

    def factory(
        *,
        token: str | None = None,
        max_concurrency: int = -1,
        status: RuntimeStatus | None = None,
        port: int | None = None,
    ) -> HttpAppChannel:
        if status is None:
            status = RuntimeStatus()
            status.app_ready = True
        channel = HttpAppChannel(
            base_url=f"http://127.0.0.1:{port or app_state[1]}",
            transport=H1Transport(limit=max(max_concurrency, 0) or 100),
            gate=CallGate(status=status, health_checked=True, max_concurrency=max_concurrency),
            app_token=token,
            health_timeout=5,
        )
        channels.append(channel)
        return channel

    yield factory
    for channel in channels:
        await channel.aclose()


async def echo(channel: HttpAppChannel, request: InvokeRequest) -> tuple[int, Any]:
    async with await channel.invoke(request) as response:
        return response.status, json.loads(await response.read())


@pytest.mark.parametrize("verb", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_verbs_path_and_query(make: Factory, verb: str) -> None:
    status, answer = await echo(
        make(), InvokeRequest(method="api/v1/orders%2F7", verb=verb.lower(), query="a=1&b=x%20y")
    )
    assert status == 200
    assert answer["method"] == verb
    assert answer["path"] == "/api/v1/orders%2F7"
    assert answer["query"] == "a=1&b=x%20y"


async def test_head_has_status_and_headers_but_no_body(make: Factory) -> None:
    async with await make().invoke(InvokeRequest(method="x", verb="HEAD")) as response:
        assert response.status == 200
        assert ("X-Reply", "yes") in response.headers
        assert await response.read() == b""


async def test_headers_forwarded_and_response_passed_through(make: Factory) -> None:
    request = InvokeRequest(
        method="/orders",
        headers=(
            ("X-Custom", "one"),
            ("X-Custom", "two"),
            ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            ("Connection", "close"),
            ("Transfer-Encoding", "chunked"),
            (API_TOKEN_HEADER, "callers-token"),
            ("x-want-status", "201"),
        ),
        body=b'{"qty":1}',
        content_type="application/json",
    )
    async with await make().invoke(request) as response:
        answer = json.loads(await response.read())
        assert response.status == 201
        assert ("X-Reply", "yes") in response.headers
        assert response.content_type.startswith("application/json")
    sent = [(k.lower(), v) for k, v in answer["headers"]]
    assert [v for k, v in sent if k == "x-custom"] == ["one", "two"]
    assert ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") in sent
    assert ("content-type", "application/json") in sent
    assert ("connection", "close") not in sent
    assert API_TOKEN_HEADER not in dict(sent)  # the caller's token never reaches the app
    assert "user-agent" not in dict(sent)  # nothing added by the client library
    assert answer["body"] == '{"qty":1}'


async def test_app_api_token_is_sent(make: Factory) -> None:
    request = InvokeRequest(method="x", headers=((API_TOKEN_HEADER, "callers"),))
    _, answer = await echo(make(token="app-secret"), request)
    sent = [(k.lower(), v) for k, v in answer["headers"]]
    assert [v for k, v in sent if k == API_TOKEN_HEADER] == ["app-secret"]


async def test_streamed_request_body(make: Factory) -> None:
    size = 12 * 1024 * 1024 + 5
    data = pattern(size)

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, size, CHUNK):
            yield data[start : start + CHUNK]

    request = InvokeRequest(method="upload", body=body(), content_type="application/octet-stream")
    async with await make().invoke(request) as response:
        answer = json.loads(await response.read())
    assert answer == {
        "size": size,
        "sha256": hashlib.sha256(data).hexdigest(),
        "chunked": "chunked",  # streamed, not gathered into one Content-Length body
    }


async def test_streamed_response_body(make: Factory) -> None:
    size = 12 * 1024 * 1024 + 3
    digest, received, chunks = hashlib.sha256(), 0, 0
    request = InvokeRequest(method="download", verb="GET", query=f"size={size}")
    async with await make().invoke(request) as response:
        assert response.status == 200
        async for chunk in response:
            digest.update(chunk)
            received += len(chunk)
            chunks += 1
    assert received == size
    assert digest.hexdigest() == hashlib.sha256(pattern(size)).hexdigest()
    assert chunks > 1


async def test_invalid_verb_is_rejected(make: Factory) -> None:
    with pytest.raises(InvalidInvokeRequest):
        await make().invoke(InvokeRequest(method="x", verb=None))
    with pytest.raises(InvalidInvokeRequest):
        await make().invoke(InvokeRequest(method="x", verb="BREW"))


async def test_app_down_is_a_channel_error(make: Factory) -> None:
    channel = make(port=free_port())
    with pytest.raises(AppChannelError, match=r"POST http://127\.0\.0\.1"):
        await channel.invoke(InvokeRequest(method="x"))
    assert await channel.health() is False


async def test_unhealthy_app_fails_fast(make: Factory, app_state: tuple[AppState, int]) -> None:
    status = RuntimeStatus()  # app_ready False
    channel = make(status=status)
    with pytest.raises(AppUnavailable, match="app is not in a healthy state"):
        await channel.invoke(InvokeRequest(method="x"))
    with pytest.raises(AppUnavailable):
        await channel.list_subscriptions()
    with pytest.raises(AppUnavailable):
        await channel.deliver_event(
            TopicEvent(pubsub_name="p", topic="t", path="events/200", cloud_event={})
        )
    assert app_state[0].events == []
    status.app_ready = True
    status_code, _ = await echo(channel, InvokeRequest(method="x"))
    assert status_code == 200


async def test_health(make: Factory, app_state: tuple[AppState, int]) -> None:
    channel = make()
    assert await channel.health() is True
    app_state[0].healthy = False
    assert await channel.health() is False


async def test_subscriptions_v1_and_v2(make: Factory, app_state: tuple[AppState, int]) -> None:
    app_state[0].subscribe = (
        200,
        json.dumps(
            [
                {
                    "pubsubname": "pubsub",
                    "topic": "orders",
                    "route": "/orders",
                    "metadata": {"rawPayload": "true"},
                    "deadLetterTopic": "dead",
                },
                {
                    "pubsubname": "pubsub",
                    "topic": "widgets",
                    "routes": {
                        "rules": [{"match": "event.type == 'w'", "path": "/w"}],
                        "default": "/other",
                    },
                    "bulkSubscribe": {"enabled": True, "maxMessagesCount": 10},
                },
                {"pubsubname": "pubsub", "topic": "no-route"},
                {"topic": "no-pubsub", "route": "/x"},
                "garbage",
            ]
        ),
    )
    assert await make().list_subscriptions() == [
        AppSubscription(
            pubsub_name="pubsub",
            topic="orders",
            rules=(TopicRule("", "/orders"),),
            metadata={"rawPayload": "true"},
            dead_letter_topic="dead",
        ),
        AppSubscription(
            pubsub_name="pubsub",
            topic="widgets",
            rules=(TopicRule("event.type == 'w'", "/w"), TopicRule("", "/other")),
            bulk_subscribe=BulkSubscribe(enabled=True, max_messages_count=10),
        ),
    ]


async def test_subscriptions_404_means_none(make: Factory, app_state: tuple[AppState, int]) -> None:
    app_state[0].subscribe = (404, "")
    assert await make().list_subscriptions() == []


@pytest.mark.parametrize(("status", "body"), [(500, "[]"), (200, "{not json"), (200, "{}")])
async def test_subscriptions_errors(
    make: Factory, app_state: tuple[AppState, int], status: int, body: str
) -> None:
    app_state[0].subscribe = (status, body)
    with pytest.raises(AppChannelError):
        await make().list_subscriptions()


@pytest.mark.parametrize(
    ("status", "reply", "expected"),
    [
        (200, "", DeliveryStatus.SUCCESS),
        (204, "", DeliveryStatus.SUCCESS),
        (200, "not json", DeliveryStatus.SUCCESS),
        (200, '{"other":1}', DeliveryStatus.SUCCESS),
        (200, '{"status":"SUCCESS"}', DeliveryStatus.SUCCESS),
        (200, '{"status":"RETRY"}', DeliveryStatus.RETRY),
        (200, '{"status":"DROP"}', DeliveryStatus.DROP),
        (200, '{"status":"drop"}', DeliveryStatus.DROP),
        (200, '{"status":"MAYBE"}', DeliveryStatus.RETRY),
        (404, "", DeliveryStatus.DROP),
        (500, '{"status":"SUCCESS"}', DeliveryStatus.RETRY),
        (503, "", DeliveryStatus.RETRY),
        (400, "", DeliveryStatus.RETRY),
    ],
)
async def test_event_delivery_status(
    make: Factory,
    app_state: tuple[AppState, int],
    status: int,
    reply: str,
    expected: DeliveryStatus,
) -> None:
    app_state[0].reply = reply
    cloud_event = {"id": "e1", "specversion": "1.0", "data": {"qty": 2}, "topic": "orders"}
    event = TopicEvent(
        pubsub_name="pubsub",
        topic="orders",
        path=f"/events/{status}",
        cloud_event=cloud_event,
        metadata={"pubsubName": "pubsub", "bad header": "x"},
    )
    channel = make(token="app-secret")
    assert await channel.deliver_event(event) == expected
    ((headers, body),) = app_state[0].events
    assert json.loads(body) == cloud_event
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert headers["pubsubName"] == "pubsub"
    assert headers[API_TOKEN_HEADER] == "app-secret"


async def test_event_delivery_to_a_down_app_is_retry(make: Factory) -> None:
    event = TopicEvent(pubsub_name="p", topic="t", path="/events/200", cloud_event={"id": "1"})
    assert await make(port=free_port()).deliver_event(event) == DeliveryStatus.RETRY


@pytest.mark.parametrize(
    ("status", "reply", "expected"),
    [
        (
            200,
            {
                "statuses": [
                    {"entryId": "a", "status": "SUCCESS"},
                    {"entryId": "b", "status": "DROP"},
                ]
            },
            {"a": DeliveryStatus.SUCCESS, "b": DeliveryStatus.DROP, "c": DeliveryStatus.RETRY},
        ),
        (
            200,
            {"statuses": [{"entryId": "a", "status": ""}, {"entryId": "zz", "status": "DROP"}]},
            dict.fromkeys("abc", DeliveryStatus.RETRY),
        ),
        (404, {}, dict.fromkeys("abc", DeliveryStatus.DROP)),
        (500, {}, dict.fromkeys("abc", DeliveryStatus.RETRY)),
    ],
)
async def test_bulk_delivery(
    make: Factory,
    app_state: tuple[AppState, int],
    status: int,
    reply: dict[str, Any],
    expected: dict[str, DeliveryStatus],
) -> None:
    app_state[0].reply = json.dumps(reply)
    event = BulkTopicEvent(
        id="batch-1",
        pubsub_name="pubsub",
        topic="orders",
        path=f"events/{status}",
        entries=(
            BulkEntry(entry_id="a", event={"id": "1", "data": "x"}),
            BulkEntry(entry_id="b", event=b"\x00raw", content_type="application/octet-stream"),
            BulkEntry(entry_id="c", event={"id": "3"}, metadata={"k": "v"}),
        ),
    )
    assert await make().deliver_bulk(event) == expected
    ((_, body),) = app_state[0].events
    sent = json.loads(body)
    assert sent["id"] == "batch-1"
    assert sent["type"] == "com.dapr.event.sent.bulk"
    assert (sent["topic"], sent["pubsubname"]) == ("orders", "pubsub")
    assert [e["entryId"] for e in sent["entries"]] == ["a", "b", "c"]
    assert sent["entries"][1]["event"] == "AHJhdw=="  # raw bytes, base64
    assert sent["entries"][2]["metadata"] == {"k": "v"}


async def wait_in_flight(state: AppState, count: int) -> None:
    async with asyncio.timeout(20):
        while state.in_flight != count:  # noqa: ASYNC110 (polling the app's counter)
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("limit", [1, 3])
async def test_max_concurrency_bounds_calls_into_the_app(
    make: Factory, app_state: tuple[AppState, int], limit: int
) -> None:
    state, total = app_state[0], 7
    channel = make(max_concurrency=limit)

    async def call() -> bytes:
        async with await channel.invoke(InvokeRequest(method="hold")) as response:
            return await response.read()

    calls = [asyncio.create_task(call()) for _ in range(total)]
    for released in range(total):
        await wait_in_flight(state, min(limit, total - released))
        state.tickets.release()
    assert await asyncio.gather(*calls) == [b"held"] * total
    assert state.peak == limit


async def test_unlimited_concurrency_reaches_the_app(
    make: Factory, app_state: tuple[AppState, int]
) -> None:
    state, total = app_state[0], 7
    channel = make(max_concurrency=-1)
    calls = [
        asyncio.create_task(channel.invoke(InvokeRequest(method="hold"))) for _ in range(total)
    ]
    await wait_in_flight(state, total)
    for _ in range(total):
        state.tickets.release()
    for response in await asyncio.gather(*calls):
        assert await response.read() == b"held"
