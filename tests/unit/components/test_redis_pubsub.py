"""What only ``pubsub.redis`` has: Dapr's stream layout and metadata, claiming a dead consumer's
messages, renewal for slow handlers, trimming, and recovery from a server outage.

Against the shared server (unique stream names, deleted after each test) and, for the outage, a
private ``redis-server`` on a free port that the test stops and starts.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis
from pydantic import ValidationError

from components.errors import ComponentError
from components.pubsub import Ack, Message
from components.pubsub.redis import RedisPubSubMetadata
from tests.brokers.private import PrivateServer, private_redis
from tests.conformance._harness import eventually
from tests.conformance.pubsub.harness import Inbox
from tests.pubsub_child import Children, build, children, opened, record_lines
from tests.servers import REDIS_URL, require_server, unique

pytestmark = pytest.mark.redis

TYPE = "pubsub.redis"
WITHIN = 30.0


@pytest.fixture
def metadata() -> dict[str, Any]:
    require_server("redis")
    return {"redisHost": REDIS_URL, "processingTimeout": "1s", "redeliverInterval": "200ms"}


@pytest.fixture
async def direct() -> AsyncIterator[aredis.Redis]:
    host, _, port = REDIS_URL.partition(":")
    client = aredis.Redis(host=host, port=int(port or 6379))
    yield client
    await client.aclose()


@pytest.fixture
async def topic(direct: aredis.Redis) -> AsyncIterator[str]:
    name = unique("tandem-pubsub-test-")
    yield name
    await direct.delete(name)


@pytest.fixture
async def make(metadata: dict[str, Any], tmp_path: Path, topic: str) -> AsyncIterator[Any]:
    """Components closed before ``topic``'s stream is deleted."""
    async with opened(TYPE, metadata, tmp_path) as make_one:
        yield make_one


@pytest.fixture
def kids() -> Iterator[Children]:
    with children() as started:
        yield started


def test_dapr_metadata_forms() -> None:
    meta = RedisPubSubMetadata.model_validate(
        {
            "redishost": "127.0.0.1:6380",
            "processingTimeout": "15000",  # Dapr: a bare number is milliseconds
            "redeliverInterval": "1m",
            "maxLenApprox": "1000",
            "queueDepth": "",  # empty is unset
            "consumerID": "orders",
        }
    )
    assert meta.address == ("127.0.0.1", 6380)
    assert (meta.processing_timeout, meta.redeliver_interval) == (15.0, 60.0)
    assert (meta.max_len_approx, meta.queue_depth, meta.consumer_id) == (1000, 100, "orders")


@pytest.mark.parametrize(
    "bad",
    [{"redisType": "cluster"}, {"failover": "true"}, {"maxLenApprox": "0"}, {"redisDB": "-1"}],
)
def test_unsupported_metadata_is_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        RedisPubSubMetadata.model_validate(bad)


async def test_entries_use_daprs_layout_both_ways(
    make: Any, topic: str, direct: aredis.Redis
) -> None:
    pubsub = await make()
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group="g", metadata={})
    await pubsub.publish(topic, b"ours", metadata={"k": "v"}, content_type="text/plain")
    await direct.xadd(topic, {"data": b"written by dapr"})
    await inbox.wait_acked({b"ours", b"written by dapr"}, within=WITHIN)
    first: Any = await direct.xrange(topic, count=1)
    assert first[0][1][b"data"] == b"ours"
    ours = next(m for m in inbox.messages if m.data == b"ours")
    assert (ours.metadata, ours.content_type) == ({"k": "v"}, "text/plain")


async def test_max_len_approx_trims_the_stream(make: Any, topic: str, direct: aredis.Redis) -> None:
    pubsub = await make(maxLenApprox="100")
    for n in range(1000):
        await pubsub.publish(topic, f"m-{n}".encode(), metadata={})
    assert await direct.xlen(topic) < 500  # about 100 (whole macro nodes are kept)


async def test_a_dead_consumers_messages_are_claimed_by_the_group(
    make: Any, metadata: dict[str, Any], topic: str, tmp_path: Path, kids: Children
) -> None:
    record = tmp_path / "held.log"
    spec = {"type": TYPE, "metadata": metadata, "home": str(tmp_path), "mode": "hold"}
    child = kids.start({**spec, "topic": topic, "group": "g", "record": str(record)})
    pubsub = await make()
    sent = {f"m-{n}".encode() for n in range(5)}
    for data in sorted(sent):
        await pubsub.publish(topic, data, metadata={})

    async def all_held() -> bool:
        return set(record_lines(record)) == sent

    await eventually(all_held, within=WITHIN)  # read by the child, never acknowledged
    child.send_signal(signal.SIGKILL)
    await asyncio.to_thread(child.wait, 10)
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group="g", metadata={})
    await inbox.wait_acked(sent, within=WITHIN)  # XAUTOCLAIM once idle for processingTimeout


async def test_a_slow_handler_keeps_its_message(make: Any, topic: str) -> None:
    """The holder renews its entries: the other consumer never claims them."""
    one, two = await make(), await make()
    release = asyncio.Event()
    slow: list[bytes] = []

    async def held(message: Message) -> Ack:
        slow.append(message.data)
        await release.wait()
        return Ack.ACK

    other = Inbox()
    await one.subscribe(topic, held, consumer_group="g", metadata={})
    await two.subscribe(topic, other, consumer_group="g", metadata={})
    await one.publish(topic, b"slow", metadata={})

    async def taken() -> bool:
        return b"slow" in slow + other.received

    await eventually(taken, within=WITHIN)
    if b"slow" in other.received:
        pytest.skip("the other consumer read it first")  # nothing to observe then
    began = time.monotonic()

    async def it_would_have_been_claimed() -> bool:  # processingTimeout is 1s
        return time.monotonic() > began + 3

    await eventually(it_would_have_been_claimed, within=10)
    release.set()
    assert b"slow" not in other.received


# ---- a private server, stopped and started ------------------------------------------------


@pytest.fixture
def private(tmp_path: Path) -> Iterator[PrivateServer]:
    with private_redis(tmp_path / "redis") as server:
        yield server


async def test_subscriptions_resume_after_an_outage(private: PrivateServer, tmp_path: Path) -> None:
    meta = {"redisHost": f"127.0.0.1:{private.port}", "readTimeout": "2s", "dialTimeout": "1s"}
    pubsub = build(TYPE, meta, tmp_path)
    await pubsub.init()
    try:
        inbox = Inbox()
        await pubsub.subscribe("t", inbox, consumer_group="g", metadata={})
        await pubsub.publish("t", b"before", metadata={})
        await inbox.wait_acked({b"before"}, within=WITHIN)
        private.stop()
        with pytest.raises(ComponentError):
            await pubsub.publish("t", b"during", metadata={})
        private.start()  # empty: the stream and group are gone, and come back

        async def published() -> bool:
            try:
                await pubsub.publish("t", b"after", metadata={})
            except ComponentError:
                return False
            return True

        await eventually(published, within=WITHIN)
        await inbox.wait_acked({b"after"}, within=WITHIN)
    finally:
        await pubsub.close()
