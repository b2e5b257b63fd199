"""Publish and subscribe (Dapr pub/sub conformance cases 2, 4, 6 and 8, at component level).

Every published message reaches a live subscriber byte for byte, with its topic; two
subscriptions on two topics each get exactly their own topic's messages; with concurrency 1 an
``ordered`` component keeps publish order; calls never exceed the concurrency bound.
"""

from __future__ import annotations

import asyncio

import pytest

from components.pubsub import PubSub
from tests.conformance._harness import eventually
from tests.conformance.pubsub.harness import Inbox, PubSubCase, payloads, publish_all


async def test_published_messages_reach_the_subscriber(
    pubsub: PubSub, topic: str, group: str
) -> None:
    inbox = Inbox()
    subscription = await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={})
    sent = payloads("m", 10)
    await publish_all(pubsub, topic, sent)
    await inbox.wait_acked(sent)
    assert all(m.topic == topic for m in inbox.messages)
    assert set(inbox.received) == set(sent)  # nothing else, nothing altered
    await subscription.aclose()


async def test_payload_is_opaque_bytes(pubsub: PubSub, topic: str, group: str) -> None:
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={})
    odd = bytes(range(256)) + '⏱️ {"json": false}'.encode()
    await pubsub.publish(topic, odd, metadata={}, content_type="application/octet-stream")
    await inbox.wait_acked([odd])


async def test_each_subscription_gets_only_its_topic(
    pubsub: PubSub, topic: str, group: str
) -> None:
    """Case 8: even numbers to one topic, odd to another; each list matches exactly."""
    first, second = Inbox(), Inbox()
    await pubsub.subscribe(f"{topic}-1", first, consumer_group=group, metadata={})
    await pubsub.subscribe(f"{topic}-2", second, consumer_group=group, metadata={})
    sent = payloads("m", 20)
    for n, data in enumerate(sent):
        await pubsub.publish(f"{topic}-{1 + n % 2}", data, metadata={})
    await first.wait_acked(sent[0::2])
    await second.wait_acked(sent[1::2])
    assert sorted(first.received) == sorted(sent[0::2])
    assert sorted(second.received) == sorted(sent[1::2])


async def test_order_is_kept_with_one_worker(
    pubsub: PubSub, topic: str, group: str, case: PubSubCase
) -> None:
    if not case.options.ordered:
        pytest.skip("the component does not promise order")
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={}, concurrency=1)
    sent = payloads("m", 30)
    await publish_all(pubsub, topic, sent)
    await inbox.wait_acked(sent)
    assert inbox.received == sent


async def test_concurrent_calls_stay_within_the_bound(
    pubsub: PubSub, topic: str, group: str
) -> None:
    inbox = Inbox()
    inbox.gate = asyncio.Event()
    await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={}, concurrency=3)
    sent = payloads("m", 10)
    await publish_all(pubsub, topic, sent)

    async def some_in_flight() -> bool:
        return inbox.in_flight >= 1

    await eventually(some_in_flight, within=20)
    inbox.gate.set()
    await inbox.wait_acked(sent)
    assert 1 <= inbox.peak <= 3
