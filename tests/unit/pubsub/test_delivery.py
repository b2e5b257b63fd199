"""The delivery pipeline of one subscription, against a recording sink and the real
in-memory component: what is acknowledged, retried, dead-lettered or dropped."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from components.pubsub import Ack, Message
from runtime.appchannel.base import (
    AppSubscription,
    AppUnavailable,
    BulkTopicEvent,
    DeliveryStatus,
    TopicEvent,
    TopicRule,
)
from runtime.resiliency import Runner
from runtime.resiliency.retry import RetryPolicy
from runtime.services.pubsub_delivery import Delivery
from runtime.services.pubsub_routing import compile_rules


class Sink:
    def __init__(self, *answers: DeliveryStatus | Exception) -> None:
        self.answers = list(answers)
        self.events: list[TopicEvent] = []

    async def deliver_event(self, event: TopicEvent) -> DeliveryStatus:
        self.events.append(event)
        answer = self.answers.pop(0) if self.answers else DeliveryStatus.SUCCESS
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def deliver_bulk(self, event: BulkTopicEvent) -> dict[str, DeliveryStatus]:
        raise NotImplementedError


def message(data: dict[str, Any] | bytes, **extra: Any) -> Message:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return Message(id="m1", topic="orders", data=body, **extra)


def cloud_event(**fields: Any) -> dict[str, Any]:
    return {"id": "e1", "type": "com.dapr.event.sent", "topic": "orders", "data": {}, **fields}


def delivery(
    sink: Sink, *, dead_letter: str = "", rules: Sequence[TopicRule] = (TopicRule("", "/o"),)
) -> tuple[Delivery, list[tuple[str, bytes]]]:
    dead: list[tuple[str, bytes]] = []

    async def publish_dead(topic: str, msg: Message) -> None:
        dead.append((topic, msg.data))

    async def no_wait(_: float) -> None:
        return None

    spec = AppSubscription(
        pubsub_name="pubsub", topic="orders", rules=tuple(rules), dead_letter_topic=dead_letter
    )
    runner = Runner("t", retry=RetryPolicy(name="r", max_retries=2), sleep=no_wait)
    return (
        Delivery(
            spec=spec,
            sink=sink,
            router=compile_rules(spec.rules),
            runner=runner,
            publish_dead_letter=publish_dead,
        ),
        dead,
    )


async def test_success_acks_and_carries_the_route() -> None:
    sink = Sink(DeliveryStatus.SUCCESS)
    d, dead = delivery(sink)
    assert await d.handle(message(cloud_event())) is Ack.ACK
    assert sink.events[0].path == "/o"
    assert sink.events[0].cloud_event["id"] == "e1"
    assert dead == []


async def test_retry_then_success_acks() -> None:
    sink = Sink(DeliveryStatus.RETRY, AppUnavailable(), DeliveryStatus.SUCCESS)
    d, _ = delivery(sink)
    assert await d.handle(message(cloud_event())) is Ack.ACK
    assert len(sink.events) == 3  # RETRY, unavailable (retried like RETRY), SUCCESS


@pytest.mark.parametrize("dead_letter", ["", "dlq"])
async def test_exhausted_retries(dead_letter: str) -> None:
    sink = Sink(*[DeliveryStatus.RETRY] * 3)
    d, dead = delivery(sink, dead_letter=dead_letter)
    ack = await d.handle(message(cloud_event()))
    assert len(sink.events) == 3
    if dead_letter:
        assert ack is Ack.ACK
        assert [t for t, _ in dead] == ["dlq"]
    else:
        assert ack is Ack.NACK  # the broker redelivers later
        assert dead == []


async def test_drop_goes_to_the_dead_letter_topic_with_the_original_bytes() -> None:
    sink = Sink(DeliveryStatus.DROP)
    d, dead = delivery(sink, dead_letter="dlq")
    original = message(cloud_event(data={"k": 1}))
    assert await d.handle(original) is Ack.ACK
    assert dead == [("dlq", original.data)]


async def test_a_failing_dead_letter_publish_leaves_the_message_unacknowledged() -> None:
    async def broken(topic: str, msg: Message) -> None:
        raise ConnectionError("broker down")

    d, _ = delivery(Sink(DeliveryStatus.DROP), dead_letter="dlq")
    d.publish_dead_letter = broken
    assert await d.handle(message(cloud_event())) is Ack.NACK


async def test_expired_event_is_never_delivered() -> None:
    past = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sink = Sink()
    d, dead = delivery(sink, dead_letter="dlq")
    assert await d.handle(message(cloud_event(expiration=past))) is Ack.ACK
    assert sink.events == []
    assert [t for t, _ in dead] == ["dlq"]
    assert await d.handle(message(cloud_event(expiration=future))) is Ack.ACK
    assert len(sink.events) == 1


@pytest.mark.parametrize("body", [b"not json", b"[1]"])
async def test_undecodable_message_is_dropped_without_delivery(body: bytes) -> None:
    sink = Sink()
    d, dead = delivery(sink)
    assert await d.handle(message(body)) is Ack.ACK
    assert sink.events == []
    assert dead == []


async def test_rules_route_in_order_and_unmatched_events_are_dead() -> None:
    rules = (
        TopicRule('event.data.kind == "a"', "/a"),
        TopicRule("has(event.data.b)", "/b"),
    )
    sink = Sink()
    d, dead = delivery(sink, dead_letter="dlq", rules=rules)
    await d.handle(message(cloud_event(data={"kind": "a", "b": 1})))
    await d.handle(message(cloud_event(data={"b": 1})))
    await d.handle(message(cloud_event(data={"kind": 3})))  # a type mismatch: no match
    assert [e.path for e in sink.events] == ["/a", "/b"]
    assert len(dead) == 1


def test_an_invalid_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid routing rule"):
        compile_rules([TopicRule("event.data ==", "/x")])


async def test_raw_subscription_wraps_the_bytes() -> None:
    sink = Sink()
    d, _ = delivery(sink)
    d.raw = True
    await d.handle(message(b"\x00raw"))
    event = sink.events[0].cloud_event
    assert event["data_base64"] == "AHJhdw=="
    assert event["datacontenttype"] == "application/octet-stream"


async def test_the_publishers_traceparent_and_the_event_bytes_go_to_the_app() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    sink = Sink()
    d, _ = delivery(sink)
    msg = message(cloud_event(traceparent=traceparent), metadata={"TraceParent": "old"})
    assert await d.handle(msg) is Ack.ACK
    sent = sink.events[0]
    assert sent.metadata == {"traceparent": traceparent}
    assert sent.cloud_event_json == msg.data  # passed through, not encoded again
    assert sent.cloud_event == json.loads(msg.data)


async def test_a_raw_event_is_encoded_for_the_app() -> None:
    sink = Sink()
    d, _ = delivery(sink)
    d.raw = True
    await d.handle(message(b"raw"))
    assert sink.events[0].cloud_event_json is None
