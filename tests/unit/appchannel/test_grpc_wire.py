"""What GrpcAppChannel puts on the wire where the SDK's App hides it (the HTTP extension), and
the fallback to AppCallbackAlpha for bulk delivery: against an in-process gRPC server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import appcallback_pb2 as pb
from protos.dapr.runtime.v1 import appcallback_pb2_grpc as pb_grpc
from runtime.appchannel.base import (
    AppChannelError,
    BulkEntry,
    BulkTopicEvent,
    CallGate,
    DeliveryStatus,
    InvalidInvokeRequest,
    InvokeRequest,
)
from runtime.appchannel.grpc import GrpcAppChannel
from runtime.status import RuntimeStatus

Status = pb.TopicEventResponse.TopicEventResponseStatus


class App(pb_grpc.AppCallbackServicer, pb_grpc.AppCallbackAlphaServicer):
    def __init__(self) -> None:
        self.invocations: list[common_pb2.InvokeRequest] = []
        self.metadata: list[tuple[str, str]] = []
        self.bulk: list[pb.TopicEventBulkRequest] = []

    async def OnInvoke(
        self, request: common_pb2.InvokeRequest, context: Any
    ) -> common_pb2.InvokeResponse:
        self.invocations.append(request)
        self.metadata = [(k, v) for k, v in context.invocation_metadata() if isinstance(v, str)]
        return common_pb2.InvokeResponse(content_type="text/plain")

    async def ListTopicSubscriptions(
        self, request: empty_pb2.Empty, context: Any
    ) -> pb.ListTopicSubscriptionsResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "no subscriptions")
        raise AssertionError

    async def OnTopicEvent(
        self, request: pb.TopicEventRequest, context: Any
    ) -> pb.TopicEventResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "no topics")
        raise AssertionError

    async def OnBulkTopicEvent(
        self, request: pb.TopicEventBulkRequest, context: Any
    ) -> pb.TopicEventBulkResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "only the alpha method")
        raise AssertionError

    async def OnBulkTopicEventAlpha1(
        self, request: pb.TopicEventBulkRequest, context: Any
    ) -> pb.TopicEventBulkResponse:
        self.bulk.append(request)
        # The first entry is answered; the second is missing (→ RETRY).
        return pb.TopicEventBulkResponse(
            statuses=[pb.TopicEventBulkResponseEntry(entry_id="a", status=Status.DROP)]
        )


@contextlib.asynccontextmanager
async def serve(
    tls: tuple[Path, Path] | None = None,
) -> AsyncIterator[tuple[App, GrpcAppChannel]]:
    app = App()
    server = grpc.aio.server()
    pb_grpc.add_AppCallbackServicer_to_server(app, server)
    pb_grpc.add_AppCallbackAlphaServicer_to_server(app, server)
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        cert, key = tls
        credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
        port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    status = RuntimeStatus()
    gate = CallGate(status=status, health_checked=False, max_concurrency=-1)
    channel = GrpcAppChannel(host="127.0.0.1", port=port, gate=gate, tls=tls is not None)
    try:
        yield app, channel
    finally:
        await channel.aclose()
        await server.stop(None)


@pytest.fixture
async def served() -> AsyncIterator[tuple[App, GrpcAppChannel]]:
    async with serve() as pair:
        yield pair


async def test_grpcs_trusts_the_apps_self_signed_certificate(
    self_signed: tuple[Path, Path],
) -> None:
    async with serve(self_signed) as (app, channel):
        response = await channel.invoke(InvokeRequest(method="secure", body=b"x"))
        assert (response.status, await response.read()) == (200, b"")
        assert [i.method for i in app.invocations] == ["secure"]


async def test_grpcs_to_an_app_that_is_down_is_a_channel_error() -> None:
    from tests.integration.harness import free_port

    gate = CallGate(status=RuntimeStatus(), health_checked=False, max_concurrency=-1)
    channel = GrpcAppChannel(host="127.0.0.1", port=free_port(), gate=gate, tls=True)
    try:
        with pytest.raises(AppChannelError, match="TLS to the app"):
            await channel.invoke(InvokeRequest(method="m"))
        assert await channel.health() is False
    finally:
        await channel.aclose()


@pytest.mark.parametrize("verb", ["GET", "head", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
async def test_http_extension_carries_verb_and_query(
    served: tuple[App, GrpcAppChannel], verb: str
) -> None:
    app, channel = served
    response = await channel.invoke(InvokeRequest(method="orders/1", verb=verb, query="x=1&y=%20"))
    assert await response.read() == b""
    (sent,) = app.invocations
    assert sent.method == "orders/1"
    assert common_pb2.HTTPExtension.Verb.Name(sent.http_extension.verb) == verb.upper()
    assert sent.http_extension.querystring == "x=1&y=%20"


async def test_no_verb_means_no_http_extension(served: tuple[App, GrpcAppChannel]) -> None:
    app, channel = served
    await (await channel.invoke(InvokeRequest(method="m", verb=None, body=b"\x00\x01"))).read()
    (sent,) = app.invocations
    assert not sent.HasField("http_extension")
    assert (sent.data.type_url, sent.data.value) == ("", b"\x00\x01")


async def test_unknown_verb_is_rejected_before_calling(
    served: tuple[App, GrpcAppChannel],
) -> None:
    app, channel = served
    with pytest.raises(InvalidInvokeRequest, match="BREW"):
        await channel.invoke(InvokeRequest(method="m", verb="BREW"))
    assert app.invocations == []


async def test_bulk_falls_back_to_alpha(served: tuple[App, GrpcAppChannel]) -> None:
    app, channel = served
    event = BulkTopicEvent(
        id="batch",
        pubsub_name="pubsub",
        topic="orders",
        path="/bulk",
        metadata={"m": "1"},
        entries=(
            BulkEntry(entry_id="a", event=b"raw bytes", content_type="text/plain"),
            BulkEntry(
                entry_id="b",
                event={"id": "ce", "specversion": "1.0", "data": {"n": 1}, "traceid": "t"},
                metadata={"k": "v"},
            ),
        ),
    )
    assert await channel.deliver_bulk(event) == {
        "a": DeliveryStatus.DROP,
        "b": DeliveryStatus.RETRY,
    }
    (sent,) = app.bulk
    assert (sent.id, sent.topic, sent.pubsub_name, sent.path) == (
        "batch",
        "orders",
        "pubsub",
        "/bulk",
    )
    assert sent.type == "com.dapr.event.sent.bulk"
    assert dict(sent.metadata) == {"m": "1"}
    raw, ce = sent.entries
    assert (raw.entry_id, raw.bytes, raw.content_type) == ("a", b"raw bytes", "text/plain")
    assert ce.cloud_event.id == "ce"
    assert ce.cloud_event.data == b'{"n":1}'
    assert dict(ce.cloud_event.extensions) == {"traceid": "t"}
    assert dict(ce.metadata) == {"k": "v"}


async def test_unimplemented_subscriptions_mean_none(served: tuple[App, GrpcAppChannel]) -> None:
    _, channel = served
    assert await channel.list_subscriptions() == []


async def test_headers_that_grpc_cannot_carry_are_left_out(
    served: tuple[App, GrpcAppChannel],
) -> None:
    app, channel = served
    headers = (
        ("X-Fine", "yes"),
        ("X-Accented", "h\u00e9llo"),
        ("Bad Key", "v"),
        ("grpc-timeout", "1S"),
        ("content-type", "text/plain"),
        ("x-data-bin", "AAE="),
        ("Connection", "close"),
    )
    response = await channel.invoke(InvokeRequest(method="m", headers=headers))
    assert response.status == 200
    sent = dict(app.metadata)
    assert sent["x-fine"] == "yes"
    for key in ("x-accented", "bad key", "x-data-bin", "connection"):
        assert key not in sent
    assert sent.get("grpc-timeout") is None
