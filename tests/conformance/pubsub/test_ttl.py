"""Message TTL (``ttlInSeconds``; Dapr's RabbitMQ certification TTL case).

A message whose TTL ran out while it waited for its consumer group is never delivered; one
without TTL, published after it, still is.
"""

from __future__ import annotations

import time

from components.pubsub import PubSub, PubSubFeature
from tests.conformance._harness import eventually, requires
from tests.conformance.pubsub.harness import Inbox

pytestmark = requires(PubSubFeature.MESSAGE_TTL)


async def test_expired_message_is_never_delivered(pubsub: PubSub, topic: str, group: str) -> None:
    waiting = await pubsub.subscribe(topic, Inbox(), consumer_group=group, metadata={})
    await waiting.aclose()  # the group exists and now has no subscriber
    published = time.monotonic()
    await pubsub.publish(topic, b"expires", metadata={"ttlInSeconds": "1"})
    await pubsub.publish(topic, b"stays", metadata={})

    async def expired() -> bool:
        return time.monotonic() > published + 1.5

    await eventually(expired, within=5)
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={}, concurrency=1)
    await inbox.wait_acked([b"stays"])
    assert b"expires" not in inbox.received


async def test_message_within_its_ttl_is_delivered(pubsub: PubSub, topic: str, group: str) -> None:
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={})
    await pubsub.publish(topic, b"fresh", metadata={"ttlInSeconds": "60"})
    await inbox.wait_acked([b"fresh"])
