"""At-least-once: an unacknowledged message comes back; an acknowledged one does not.

NACK, a handler exception and a subscription closed while its handler runs all leave the
message unacknowledged: it is delivered again to the same consumer group (within the entry's
``redeliverySeconds``). Dapr's conformance case 2 no longer requires this (it leaves retries to
the runtime); Tandem's at-least-once promise does, so every component keeps it.
"""

from __future__ import annotations

import asyncio

from components.pubsub import Ack, Message, PubSub
from tests.conformance._harness import eventually
from tests.conformance.pubsub.harness import DELIVERY_SECONDS, Inbox, PubSubCase, payloads


def _redelivery(case: PubSubCase) -> float:
    return DELIVERY_SECONDS + case.options.redelivery_seconds


def _nack_first(message: Message, seen: int) -> Ack:
    return Ack.NACK if seen == 1 else Ack.ACK


def _fail_first(message: Message, seen: int) -> Ack:
    if seen == 1:
        raise RuntimeError("simulated handler failure")
    return Ack.ACK


async def test_nacked_message_is_delivered_again(
    pubsub: PubSub, topic: str, group: str, case: PubSubCase
) -> None:
    inbox = Inbox(_nack_first)
    await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={})
    sent = payloads("m", 3)
    for data in sent:
        await pubsub.publish(topic, data, metadata={})
    await inbox.wait_acked(sent, within=_redelivery(case))
    assert all(inbox.count(d) >= 2 for d in sent)


async def test_message_whose_handler_failed_is_delivered_again(
    pubsub: PubSub, topic: str, group: str, case: PubSubCase
) -> None:
    inbox = Inbox(_fail_first)
    await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={})
    await pubsub.publish(topic, b"fails once", metadata={})
    await inbox.wait_acked(
        [b"fails once"], within=DELIVERY_SECONDS + case.options.redelivery_seconds
    )
    assert inbox.count(b"fails once") >= 2


async def test_message_in_flight_at_close_goes_to_the_next_subscriber(
    pubsub: PubSub, replica: PubSub, topic: str, group: str, case: PubSubCase
) -> None:
    stuck = Inbox()
    stuck.gate = asyncio.Event()  # never set: the handler is still running at close
    first = await pubsub.subscribe(topic, stuck, consumer_group=group, metadata={})
    await pubsub.publish(topic, b"in flight", metadata={})

    async def started() -> bool:
        return stuck.in_flight == 1

    await eventually(started, within=DELIVERY_SECONDS)
    await first.aclose()
    assert stuck.in_flight == 0  # aclose returns once no handler runs
    inbox = Inbox()
    await replica.subscribe(topic, inbox, consumer_group=group, metadata={})
    await inbox.wait_acked(
        [b"in flight"], within=DELIVERY_SECONDS + case.options.redelivery_seconds
    )


async def test_acknowledged_message_is_not_delivered_again(
    pubsub: PubSub, replica: PubSub, topic: str, group: str
) -> None:
    """After an ACK and a new subscriber in the group, a later marker arrives but not the old
    message (the marker is published after it, so the old one would have come first)."""
    inbox = Inbox()
    first = await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={})
    await pubsub.publish(topic, b"once", metadata={})
    await inbox.wait_acked([b"once"])
    await first.aclose()
    later = Inbox()
    await replica.subscribe(topic, later, consumer_group=group, metadata={}, concurrency=1)
    await pubsub.publish(topic, b"marker", metadata={})
    await later.wait_acked([b"marker"])
    assert b"once" not in later.received
