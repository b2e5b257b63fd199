"""``pubsub.jetstream`` beyond the shared cases: Dapr manifests, streams made or reused,
slow handlers kept alive, and a broker outage (a private nats-server, killed and restarted)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from components.errors import ComponentError
from components.pubsub import Ack, Message
from components.pubsub.jetstream import JetStreamMetadata, JetStreamPubSub
from tests.brokers.private import PrivateServer
from tests.conformance._harness import eventually
from tests.conformance.pubsub.harness import Inbox, built, payloads, publish_all
from tests.servers import require_server, unique

pytestmark = pytest.mark.nats
URL = "nats://127.0.0.1:4222"
Make = Callable[..., JetStreamPubSub]


@pytest.fixture
async def streams() -> AsyncIterator[list[str]]:
    """Names of the streams a test makes on the shared server: deleted afterwards."""
    require_server("nats")
    made: list[str] = []
    yield made
    nc = await nats.connect(URL)
    js = nc.jetstream()
    for name in made:
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(name)
    await nc.close()


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    async with built(JetStreamPubSub, {"natsURL": URL}, tmp_path, "jetstream") as make:
        yield make


def test_a_dapr_manifest_validates_unchanged() -> None:
    meta = JetStreamMetadata.model_validate(
        {
            "natsURL": "nats://localhost:4222",
            "name": "my-conn-name",
            "streamName": "my-stream",
            "durableName": "my-durable-subscription",
            "queueGroupName": "my-queue-group",
            "startSequence": "1",
            "flowControl": "false",
            "ackWait": "10s",
            "maxDeliver": "5",
            "backOff": "50ms, 1s, 10s",
            "maxAckPending": "5000",
            "replicas": "1",
            "memoryStorage": "false",
            "rateLimit": "1024",
            "heartbeat": "15s",
            "ackPolicy": "explicit",
            "deliverPolicy": "all",
            "consumerID": "channel1",
        }
    )
    assert meta.ack_wait == 10.0
    assert meta.back_off == (0.05, 1.0, 10.0)
    assert meta.max_deliver == 5
    assert JetStreamMetadata.unknown_fields({"NATSurl": "x", "ackwait": "1s"}) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"ackPolicy": "none"},  # no acknowledgements: not at-least-once
        {"deliverPolicy": "sequence"},  # without startSequence
        {"natsURL": "localhost:4222"},
        {"ackWait": "-1s"},
    ],
)
def test_bad_metadata_is_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        JetStreamMetadata.model_validate(bad)


async def test_the_stream_is_created_when_missing_and_extended(
    make: Make, streams: list[str]
) -> None:
    name = unique("S")
    streams.append(name)
    pubsub = make(streamName=name)
    await pubsub.init()
    first, second = unique("t"), unique("t")
    await pubsub.publish(first, b"1", metadata={})
    await pubsub.publish(second, b"2", metadata={})
    nc = await nats.connect(URL)
    info = await nc.jetstream().stream_info(name)
    await nc.close()
    assert set(info.config.subjects or []) == {first, second}
    assert info.state.messages == 2


async def test_an_existing_stream_holding_the_subject_is_used(
    make: Make, streams: list[str]
) -> None:
    name, topic = unique("S"), unique("t")
    streams.append(name)
    nc = await nats.connect(URL)
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{topic}.>"])
    pubsub = make()  # no streamName: found by subject
    await pubsub.init()
    inbox = Inbox()
    await pubsub.subscribe(f"{topic}.a", inbox, consumer_group="g", metadata={})
    await pubsub.publish(f"{topic}.a", b"x", metadata={}, content_type="text/plain")
    await inbox.wait_acked([b"x"])
    assert inbox.messages[0].content_type == "text/plain"
    assert (await js.stream_info(name)).state.messages == 1
    await nc.close()


async def _slow_subscriber(
    make: Make, streams: list[str], concurrency: int
) -> tuple[JetStreamPubSub, str, str, list[Message], asyncio.Event]:
    """A stream with ackWait 1 s whose subscriber holds every message until ``release`` is
    set: (pubsub, stream, topic, the messages handled so far, release)."""
    name, topic = unique("S"), unique("t")
    streams.append(name)
    pubsub = make(streamName=name, ackWait="1s")
    await pubsub.init()
    calls: list[Message] = []
    release = asyncio.Event()

    async def slow(message: Message) -> Ack:
        calls.append(message)
        await release.wait()
        return Ack.ACK

    await pubsub.subscribe(topic, slow, consumer_group="g", metadata={}, concurrency=concurrency)
    return pubsub, name, topic, calls, release


async def test_a_handler_slower_than_ack_wait_is_not_redelivered_meanwhile(
    make: Make, streams: list[str]
) -> None:
    pubsub, _stream, topic, calls, release = await _slow_subscriber(make, streams, 4)
    await pubsub.publish(topic, b"slow", metadata={})

    async def started() -> bool:
        return len(calls) == 1

    await eventually(started, within=10)
    loop = asyncio.get_running_loop()
    until = loop.time() + 3.5  # more than three ackWaits

    async def three_ack_waits() -> bool:
        return loop.time() > until

    await eventually(three_ack_waits, within=10)
    release.set()
    assert len(calls) == 1


async def test_messages_waiting_in_the_local_window_are_kept_alive_too(
    make: Make, streams: list[str]
) -> None:
    """Fetched messages queued behind a slow handler (concurrency 1, a window of 3) get
    ``in_progress`` like the one being handled: none is redelivered while it waits."""
    pubsub, name, topic, calls, release = await _slow_subscriber(make, streams, 1)
    for n in range(3):
        await pubsub.publish(topic, b"m%d" % n, metadata={})
    nc = await nats.connect(URL)
    js = nc.jetstream()
    (durable,) = [c.name for c in await js.consumers_info(name)]

    async def all_taken() -> bool:  # delivered by the broker, none acknowledged yet
        info = await js.consumer_info(name, durable)
        return len(calls) == 1 and info.num_ack_pending == 3 and info.num_pending == 0

    await eventually(all_taken, within=10)
    # Another member of the group pulls for more than three ackWaits: it gets nothing, as none
    # of the three (one handled, two queued) is given up by the broker.
    other = await js.pull_subscribe_bind(durable, stream=name)
    with pytest.raises(nats.errors.TimeoutError):
        await other.fetch(1, timeout=3.5)
    await other.unsubscribe()
    release.set()

    async def all_acked() -> bool:
        pending: int = (await js.consumer_info(name, durable)).num_ack_pending
        return pending == 0

    await eventually(all_acked, within=10)
    info = await js.consumer_info(name, durable)
    await nc.close()
    assert info.num_redelivered == 0
    assert sorted(m.data for m in calls) == [b"m0", b"m1", b"m2"]


async def test_outage_publish_fails_fast_and_subscription_resumes(
    make: Make, tmp_path: Path
) -> None:
    server = PrivateServer(
        ["nats-server", "-js", "-a", "127.0.0.1", "-p", "{port}", "-sd", "{dir}"],
        tmp_path / "nats",
    )
    server.start()
    try:
        pubsub = make(natsURL=f"nats://127.0.0.1:{server.port}", ackWait="2s")
        await pubsub.init()
        topic = unique("t")
        inbox = Inbox()
        await pubsub.subscribe(topic, inbox, consumer_group="g", metadata={})
        await publish_all(pubsub, topic, payloads("before", 5))
        await inbox.wait_acked(payloads("before", 5))

        server.stop()
        loop = asyncio.get_running_loop()

        async def publish_fails() -> bool:
            started = loop.time()
            with pytest.raises(ComponentError):
                await pubsub.publish(topic, b"during", metadata={})
            return loop.time() - started < 1.0  # fails fast, not after the publish timeout

        await eventually(publish_fails, within=10)

        server.start()

        async def publishes_again() -> bool:
            try:
                await pubsub.publish(topic, b"after", metadata={})
            except ComponentError:
                return False
            return True

        await eventually(publishes_again, within=20, interval=0.2)
        await inbox.wait_acked([b"after"], within=30)
        assert b"during" not in inbox.received
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _quiet_nats_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL, logger="nats")
