"""``pubsub.mqtt3`` beyond the shared cases: Dapr manifests, persistent sessions that keep
messages while the subscriber is away, and a broker outage. Every broker-facing test runs on a
private Mosquitto (killed and restarted at will), so the shared one keeps no test sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from components.errors import ComponentError
from components.pubsub.mqtt import MqttMetadata, MqttPubSub
from tests.brokers.private import PrivateServer, private_mosquitto
from tests.conformance._harness import eventually
from tests.conformance.pubsub.harness import Inbox, built, payloads, publish_all
from tests.servers import unique

Make = Callable[..., MqttPubSub]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateServer]:
    with private_mosquitto(tmp_path / "mosquitto") as server:
        yield server


@pytest.fixture
async def make(tmp_path: Path, broker: PrivateServer) -> AsyncIterator[Make]:
    defaults = {"url": f"tcp://127.0.0.1:{broker.port}", "redeliveryDelay": "100ms"}
    async with built(MqttPubSub, defaults, tmp_path, "mqtt") as make:
        yield make


def test_a_dapr_manifest_validates_unchanged() -> None:
    meta = MqttMetadata.model_validate(
        {
            "url": "tcp://user:p%40ss@host.domain:1884",
            "retain": "false",
            "cleanSession": "false",
            "qos": "1",
            "consumerID": "channel1",
        }
    )
    assert meta.endpoint == ("host.domain", 1884, "user", "p@ss")
    assert (meta.qos, meta.retain, meta.clean_session) == (1, False, False)
    assert MqttMetadata.model_validate({"url": "ssl://h"}).endpoint[1] == 8883


@pytest.mark.parametrize(
    "bad", [{"url": "http://h:1883"}, {"url": "tcp://:1883"}, {"qos": "3"}, {"clientCert": "x"}]
)
def test_bad_metadata_is_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        MqttMetadata.model_validate(bad)


async def test_a_persistent_session_keeps_messages_while_the_subscriber_is_away(
    make: Make,
) -> None:
    topic, group = unique("t"), unique("g")
    publisher = make()
    await publisher.init()
    first = make()
    await first.init()
    subscription = await first.subscribe(topic, Inbox(), consumer_group=group, metadata={})
    await subscription.aclose()
    await first.close()  # the subscriber's process is gone; its session stays at the broker

    away = payloads("away", 5)
    await publish_all(publisher, topic, away)
    back = make()  # a restarted sidecar: same home, so the same session slot
    await back.init()
    inbox = Inbox()
    await back.subscribe(topic, inbox, consumer_group=group, metadata={}, concurrency=1)
    await inbox.wait_acked(away)
    assert inbox.received == away  # in order, each once


async def test_clean_sessions_keep_nothing(make: Make) -> None:
    topic, group = unique("t"), unique("g")
    pubsub = make(cleanSession="true")
    await pubsub.init()
    subscription = await pubsub.subscribe(topic, Inbox(), consumer_group=group, metadata={})
    await subscription.aclose()
    await pubsub.publish(topic, b"lost", metadata={})
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={})
    await pubsub.publish(topic, b"marker", metadata={})
    await inbox.wait_acked([b"marker"])
    assert inbox.received == [b"marker"]  # documented: nothing is kept while away


async def test_outage_publish_fails_fast_and_subscription_resumes(
    make: Make, broker: PrivateServer
) -> None:
    pubsub = make()
    await pubsub.init()
    topic = unique("t")
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group="g", metadata={})
    await publish_all(pubsub, topic, payloads("before", 3))
    await inbox.wait_acked(payloads("before", 3))

    broker.stop()
    loop = asyncio.get_running_loop()

    async def publish_fails_fast() -> bool:
        started = loop.time()
        with pytest.raises(ComponentError):
            await pubsub.publish(topic, b"during", metadata={})
        return loop.time() - started < 1.0

    await eventually(publish_fails_fast, within=10)
    broker.start()

    # This broker keeps no sessions across its restart: a message counts once the
    # subscription has subscribed again, so publish until one arrives.
    async def resumed() -> bool:
        try:
            await pubsub.publish(topic, b"after", metadata={})
        except ComponentError:
            return False
        return b"after" in inbox.acked

    await eventually(resumed, within=30, interval=0.2)
