"""Wildcard subscriptions (``SUBSCRIBE_WILDCARDS``; Dapr's MQTT certification case).

MQTT-style patterns: ``+`` matches one level, a final ``#`` the remaining levels; each message
carries the concrete topic it was published to.
"""

from __future__ import annotations

from components.pubsub import PubSub, PubSubFeature
from tests.conformance._harness import requires
from tests.conformance.pubsub.harness import Inbox

pytestmark = requires(PubSubFeature.SUBSCRIBE_WILDCARDS)


async def test_single_level_wildcard(pubsub: PubSub, topic: str, group: str) -> None:
    inbox = Inbox()
    await pubsub.subscribe(f"{topic}/+/temp", inbox, consumer_group=group, metadata={})
    await pubsub.publish(f"{topic}/kitchen/temp", b"in", metadata={})
    await pubsub.publish(f"{topic}/kitchen/humidity", b"out-1", metadata={})
    await pubsub.publish(f"{topic}/a/b/temp", b"out-2", metadata={})
    await pubsub.publish(f"{topic}/hall/temp", b"in-2", metadata={})
    await inbox.wait_acked([b"in", b"in-2"])
    assert sorted(inbox.received) == [b"in", b"in-2"]
    assert {m.topic for m in inbox.messages} == {f"{topic}/kitchen/temp", f"{topic}/hall/temp"}


async def test_multi_level_wildcard(pubsub: PubSub, topic: str, group: str) -> None:
    inbox = Inbox()
    await pubsub.subscribe(f"{topic}/#", inbox, consumer_group=group, metadata={})
    await pubsub.publish(f"{topic}/a", b"1", metadata={})
    await pubsub.publish(f"{topic}/a/b/c", b"2", metadata={})
    await pubsub.publish(f"{topic}x/a", b"out", metadata={})
    await pubsub.publish(f"{topic}/z", b"3", metadata={})
    await inbox.wait_acked([b"1", b"2", b"3"])
    assert sorted(inbox.received) == [b"1", b"2", b"3"]
