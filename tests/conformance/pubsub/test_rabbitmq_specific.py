"""``pubsub.rabbitmq`` beyond the shared cases: Dapr manifests and safer defaults, Dapr's queue
naming, publisher confirms, requeue choice, and a dropped connection (closed by the broker
through ``rabbitmqctl close_connection``, which leaves the shared server running)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aio_pika
import pytest
from pydantic import ValidationError

from components.errors import ComponentError
from components.pubsub import Ack, Message
from components.pubsub.rabbitmq import RabbitMQMetadata, RabbitMQPubSub
from tests.conformance._harness import eventually
from tests.conformance.pubsub.harness import Inbox, built, payloads, publish_all
from tests.servers import require_server, unique

pytestmark = pytest.mark.rabbitmq
URL = "amqp://guest:guest@127.0.0.1:5672"
Make = Callable[..., RabbitMQPubSub]


@pytest.fixture
async def broker() -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A direct channel to the shared broker; queues/exchanges named in ``made`` are deleted."""
    require_server("rabbitmq")
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    yield channel
    await connection.close()


@pytest.fixture
async def made(broker: aio_pika.abc.AbstractChannel) -> AsyncIterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(Exception):
            await broker.queue_delete(name)
        with contextlib.suppress(Exception):
            await broker.exchange_delete(name)


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    async with built(RabbitMQPubSub, {"connectionString": URL}, tmp_path, "rabbit") as make:
        yield make


def test_a_dapr_manifest_validates_unchanged() -> None:
    meta = RabbitMQMetadata.model_validate(
        {
            "connectionString": "amqp://localhost:5672",
            "consumerID": "channel1",
            "durable": "false",
            "deletedWhenUnused": "false",
            "autoAck": "false",
            "deliveryMode": "0",
            "requeueInFailure": "false",
            "prefetchCount": "0",
            "reconnectWait": "0",
            "concurrencyMode": "parallel",
            "publisherConfirm": "false",
            "enableDeadLetter": "true",
            "maxLen": "3000",
            "maxLenBytes": "10485760",
            "exchangeKind": "fanout",
            "saslExternal": "false",
            "ttlInSeconds": "60",
            "clientName": "{podName}",
            "heartBeat": "10s",
        }
    )
    assert (meta.durable, meta.deleted_when_unused, meta.delivery_mode) == (False, False, 0)
    assert meta.url == "amqp://localhost:5672"
    # Without them, Tandem's defaults keep messages (Dapr's would drop them).
    safe = RabbitMQMetadata.model_validate({})
    assert (safe.durable, safe.deleted_when_unused, safe.requeue_in_failure) == (True, False, True)
    assert safe.delivery_mode == 2
    assert RabbitMQMetadata.model_validate({"hostname": "h", "password": "p@ss"}).url == (
        "amqp://guest:p%40ss@h"
    )


@pytest.mark.parametrize(
    "bad", [{"autoAck": "true"}, {"host": "localhost:5672"}, {"exchangeKind": "x"}]
)
def test_bad_metadata_is_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        RabbitMQMetadata.model_validate(bad)


async def test_the_group_queue_is_named_as_dapr_names_it_and_durable(
    make: Make, broker: aio_pika.abc.AbstractChannel, made: list[str]
) -> None:
    topic, group = unique("t"), unique("g")
    made += [f"{group}-{topic}", topic]
    pubsub = make()
    await pubsub.init()
    subscription = await pubsub.subscribe(topic, Inbox(), consumer_group=group, metadata={})
    await subscription.aclose()  # the group queue stays and keeps receiving
    await pubsub.publish(topic, b"kept", metadata={})  # returns once confirmed
    queue = await broker.declare_queue(f"{group}-{topic}", passive=True)
    assert queue.declaration_result.message_count == 1
    # Declaring it again as durable succeeds only if it is (else PRECONDITION_FAILED).
    again = await broker.declare_queue(f"{group}-{topic}", durable=True)
    assert again.declaration_result.message_count == 1


async def test_without_requeue_a_nacked_message_is_dropped(make: Make, made: list[str]) -> None:
    topic, group = unique("t"), unique("g")
    made += [f"{group}-{topic}", topic]
    pubsub = make(requeueInFailure="false")
    await pubsub.init()
    seen: list[bytes] = []

    async def nack(message: Message) -> Ack:
        seen.append(message.data)
        return Ack.NACK if message.data == b"dropped" else Ack.ACK

    await pubsub.subscribe(topic, nack, consumer_group=group, metadata={})
    await publish_all(pubsub, topic, [b"dropped", b"marker"])

    async def marker() -> bool:
        return b"marker" in seen

    await eventually(marker, within=10)
    assert seen.count(b"dropped") == 1  # Dapr's requeueInFailure: false, as documented


def _close_connection(name: str) -> bool:
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    pids = [line.split("\t")[0] for line in listing.stdout.splitlines() if name in line]
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "-q", "close_connection", pid, "tandem outage test"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    return bool(pids)


async def test_a_dropped_connection_is_restored(make: Make, made: list[str]) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    topic, group, name = unique("t"), unique("g"), unique("conn")
    made += [f"{group}-{topic}", topic]
    pubsub = make(clientName=name, reconnectWait="200ms")
    await pubsub.init()
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group=group, metadata={})
    await publish_all(pubsub, topic, payloads("before", 3))
    await inbox.wait_acked(payloads("before", 3))

    closed = await asyncio.to_thread(_close_connection, name)
    if not closed:
        pytest.skip("rabbitmqctl cannot list this broker's connections")

    async def publishes_again() -> bool:
        try:
            await pubsub.publish(topic, b"after", metadata={})
        except ComponentError:
            return False
        return True

    await eventually(publishes_again, within=30, interval=0.1)
    await inbox.wait_acked([b"after"], within=30)
