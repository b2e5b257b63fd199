"""Streaming subscriptions (gRPC ``SubscribeTopicEventsAlpha1``) over Tandem's own protos: the
first reply is ``initial_response``, events follow and are settled by id, the subscription is
listed as STREAMING while open, and a bad first message is refused with Dapr's codes."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator

import grpc
import pytest

from protos.dapr.runtime.v1 import appcallback_pb2, dapr_pb2_grpc, pubsub_pb2
from tests.integration.harness import wait_until
from tests.integration.pubsub._support import PUBSUB, PubSubEnv

pytestmark = pytest.mark.integration

Request = pubsub_pb2.SubscribeTopicEventsRequestAlpha1
Initial = pubsub_pb2.SubscribeTopicEventsRequestInitialAlpha1
Processed = pubsub_pb2.SubscribeTopicEventsRequestProcessedAlpha1
SUCCESS = appcallback_pb2.TopicEventResponse.TopicEventResponseStatus.SUCCESS


@pytest.fixture
def stub(env: PubSubEnv) -> Iterator[dapr_pb2_grpc.DaprStub]:
    channel = grpc.insecure_channel(env.sidecar.grpc_target)
    yield dapr_pb2_grpc.DaprStub(channel)
    channel.close()


def test_stream_starts_with_initial_response_then_events(
    env: PubSubEnv, stub: dapr_pb2_grpc.DaprStub
) -> None:
    topic = f"stream-{env.marker()}"
    outgoing: queue.Queue[Request | None] = queue.Queue()
    outgoing.put(Request(initial_request=Initial(pubsub_name=PUBSUB, topic=topic)))

    def requests() -> Iterator[Request]:
        while (item := outgoing.get()) is not None:
            yield item

    replies = iter(stub.SubscribeTopicEventsAlpha1(requests(), timeout=30))
    first = next(replies)
    assert first.HasField("initial_response")
    subs = env.sidecar.request("GET", "/v1.0/metadata").json()["subscriptions"]
    assert {"topic": topic, "type": "STREAMING"}.items() <= next(
        s for s in subs if s["topic"] == topic
    ).items()

    publisher = threading.Thread(
        target=lambda: env.publish(topic, json.dumps({"n": 1}), content_type="application/json")
    )
    publisher.start()
    reply = next(replies)
    publisher.join()
    event = reply.event_message
    assert (event.topic, event.pubsub_name, event.path) == (topic, PUBSUB, "")
    assert json.loads(event.data) == {"n": 1}
    status = appcallback_pb2.TopicEventResponse(status=SUCCESS)
    outgoing.put(Request(event_processed=Processed(id=event.id, status=status)))
    outgoing.put(None)  # the client closes its side: the subscription ends

    def listed() -> set[str]:
        subs = env.sidecar.request("GET", "/v1.0/metadata").json().get("subscriptions", [])
        return {s["topic"] for s in subs}

    assert wait_until(lambda: topic not in listed(), 10)


@pytest.mark.parametrize(
    ("first", "words"),
    [
        (
            Request(initial_request=Initial(pubsub_name="nope", topic="t")),
            "not found",
        ),
        (
            Request(initial_request=Initial(pubsub_name=PUBSUB, topic="")),
            "topic is empty",
        ),
        (Request(event_processed=Processed(id="x")), "initial_request"),
    ],
    ids=["unknown-pubsub", "empty-topic", "no-initial-request"],
)
def test_bad_first_message_is_refused(
    stub: dapr_pb2_grpc.DaprStub, first: Request, words: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        list(stub.SubscribeTopicEventsAlpha1(iter([first]), timeout=10))
    err: grpc.Call = info.value  # type: ignore[assignment]
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in (err.details() or "")
