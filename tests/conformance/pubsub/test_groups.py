"""Consumer groups (Dapr certification tests, section 2.3 of the catalogue).

Subscriptions in one group share the topic (no message is handed to both, barring
redelivery); subscriptions in different groups each get every message. With a ``shared``
entry the two subscriptions live on two component instances, as replicas would.
"""

from __future__ import annotations

from components.pubsub import PubSub
from tests.conformance._harness import eventually
from tests.conformance.pubsub.harness import DELIVERY_SECONDS, Inbox, payloads, publish_all


async def test_one_group_shares_the_messages(
    pubsub: PubSub, replica: PubSub, topic: str, group: str
) -> None:
    one, two = Inbox(), Inbox()
    await pubsub.subscribe(topic, one, consumer_group=group, metadata={})
    await replica.subscribe(topic, two, consumer_group=group, metadata={})
    sent = payloads("m", 20)
    await publish_all(pubsub, topic, sent)

    async def all_acked() -> bool:
        return set(sent) <= set(one.acked) | set(two.acked)

    await eventually(all_acked, within=DELIVERY_SECONDS)
    # Sharing, not fan-out: together they received each message about once, not twice.
    assert len(one.received) + len(two.received) < 2 * len(sent)


async def test_different_groups_each_get_every_message(
    pubsub: PubSub, replica: PubSub, topic: str, group: str
) -> None:
    one, two = Inbox(), Inbox()
    await pubsub.subscribe(topic, one, consumer_group=f"{group}-a", metadata={})
    await replica.subscribe(topic, two, consumer_group=f"{group}-b", metadata={})
    sent = payloads("m", 10)
    await publish_all(pubsub, topic, sent)
    await one.wait_acked(sent)
    await two.wait_acked(sent)
