"""Closing (Dapr pub/sub conformance case 9, and the lifecycle contract).

Closing one subscription does not disturb another on the same component; ``aclose`` and the
component's ``close`` are idempotent, and ``close`` ends every subscription.
"""

from __future__ import annotations

from components.pubsub import PubSub
from tests.conformance.pubsub.harness import Inbox, MakePubSub, payloads, publish_all


async def test_closing_one_subscription_leaves_the_other(
    pubsub: PubSub, topic: str, group: str
) -> None:
    first, second = Inbox(), Inbox()
    one = await pubsub.subscribe(f"{topic}-1", first, consumer_group=group, metadata={})
    two = await pubsub.subscribe(f"{topic}-2", second, consumer_group=group, metadata={})
    await publish_all(pubsub, f"{topic}-1", payloads("a", 3))
    await publish_all(pubsub, f"{topic}-2", payloads("b", 3))
    await first.wait_acked(payloads("a", 3))
    await second.wait_acked(payloads("b", 3))

    await one.aclose()
    await one.aclose()
    await publish_all(pubsub, f"{topic}-2", payloads("b", 5, start=3))
    await second.wait_acked(payloads("b", 8))
    await two.aclose()


async def test_close_ends_subscriptions_and_is_idempotent(
    make_pubsub: MakePubSub, topic: str, group: str
) -> None:
    pubsub = await make_pubsub()
    inbox = Inbox()
    subscription = await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={})
    await pubsub.publish(topic, b"before", metadata={})
    await inbox.wait_acked([b"before"])
    await pubsub.close()
    await pubsub.close()
    await subscription.aclose()  # after the component closed: still fine
