"""Bulk publish and bulk subscribe (Dapr pub/sub conformance cases 3, 5 and 7).

Bulk publish: every entry not reported as failed is delivered. Bulk subscribe: batches hold at
most ``max_messages``; every entry is acknowledged on its own (a NACKed entry comes back, its
batch mates do not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from components.pubsub import (
    Ack,
    BulkMessage,
    BulkPublisher,
    BulkSubscriber,
    Message,
    PubSub,
    PubSubFeature,
)
from tests.conformance._harness import eventually, requires
from tests.conformance.pubsub.harness import (
    DELIVERY_SECONDS,
    Inbox,
    PubSubCase,
    payloads,
    publish_all,
)


@requires(PubSubFeature.BULK_PUBLISH)
async def test_bulk_published_entries_are_delivered(pubsub: PubSub, topic: str, group: str) -> None:
    assert isinstance(pubsub, BulkPublisher)
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={})
    sent = payloads("m", 10, start=11)
    entries = [
        BulkMessage(entry_id=str(11 + n), data=d, content_type="text/plain")
        for n, d in enumerate(sent)
    ]
    failed = await pubsub.bulk_publish(topic, entries, metadata={})
    assert failed == {}
    await inbox.wait_acked(sent)


@requires(PubSubFeature.BULK_SUBSCRIBE)
async def test_bulk_subscriber_gets_bounded_batches_acked_per_entry(
    pubsub: PubSub, topic: str, group: str, case: PubSubCase
) -> None:
    assert isinstance(pubsub, BulkSubscriber)
    batches: list[list[bytes]] = []
    acked: set[bytes] = set()
    nacked_once: set[bytes] = set()

    async def handler(batch: Sequence[Message]) -> Mapping[str, Ack]:
        batches.append([m.data for m in batch])
        answer = {}
        for m in batch:
            if m.data.endswith(b"-3") and m.data not in nacked_once:
                nacked_once.add(m.data)
                answer[m.id] = Ack.NACK
            else:
                acked.add(m.data)
                answer[m.id] = Ack.ACK
        return answer

    await pubsub.bulk_subscribe(
        topic, handler, consumer_group=group, metadata={}, max_messages=5, max_await_ms=500
    )
    sent = payloads("m", 11, start=1000)
    sent.append(b"m-3")
    await publish_all(pubsub, topic, sent)

    async def all_acked() -> bool:
        return set(sent) <= acked

    await eventually(all_acked, within=DELIVERY_SECONDS + case.options.redelivery_seconds)
    assert all(1 <= len(b) <= 5 for b in batches)
    delivered = [d for b in batches for d in b]
    assert delivered.count(b"m-3") >= 2  # NACKed, delivered again
    assert min(delivered.count(d) for d in sent) >= 1
