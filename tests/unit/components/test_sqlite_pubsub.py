"""What only ``pubsub.sqlite`` has: one file shared by processes, leases that outlive a crash,
durability with no subscriber, retention, and its default file.

The shared conformance suite covers the pub/sub contract; these tests use real second
processes (``tests.pubsub_child``) where the promise is about processes.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from components.base import ComponentContext
from components.pubsub import Ack, Message
from components.pubsub.sqlite import SqlitePubSub, SqlitePubSubMetadata
from tests.conformance._harness import eventually
from tests.conformance.pubsub.harness import Inbox
from tests.pubsub_child import Children, children, opened, record_lines
from tests.servers import unique

TYPE = "pubsub.sqlite"
WITHIN = 30.0


@pytest.fixture
def metadata(tmp_path: Path) -> dict[str, Any]:
    return {
        "connectionString": str(tmp_path / "shared.db"),
        "processingTimeout": "1s",
        "redeliveryDelay": "50ms",
        "cleanupInterval": "200ms",
    }


@pytest.fixture
async def make(metadata: dict[str, Any], tmp_path: Path) -> AsyncIterator[Any]:
    async with opened(TYPE, metadata, tmp_path) as make_one:
        yield make_one


@pytest.fixture
def kids() -> Iterator[Children]:
    with children() as started:
        yield started


async def test_messages_published_by_another_process_arrive(
    make: Any, metadata: dict[str, Any], tmp_path: Path, kids: Children
) -> None:
    pubsub = await make()
    topic = unique("topic")
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group="g", metadata={})
    spec = {"type": TYPE, "metadata": metadata, "home": str(tmp_path), "mode": "publish"}
    child = kids.start({**spec, "topic": topic, "prefix": "p", "count": 50})
    assert await asyncio.to_thread(child.wait, 60) == 0
    await inbox.wait_acked({f"p-{n}".encode() for n in range(50)}, within=WITHIN)


async def test_a_group_is_shared_by_subscribers_in_two_processes(
    make: Any, metadata: dict[str, Any], tmp_path: Path, kids: Children
) -> None:
    topic, record = unique("topic"), tmp_path / "child.log"
    spec = {"type": TYPE, "metadata": metadata, "home": str(tmp_path), "mode": "consume"}
    kids.start({**spec, "topic": topic, "group": "shared", "record": str(record)})
    pubsub = await make()
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group="shared", metadata={})
    other = Inbox()
    await pubsub.subscribe(topic, other, consumer_group="another", metadata={})
    sent = {f"m-{n}".encode() for n in range(200)}
    for data in sorted(sent):
        await pubsub.publish(topic, data, metadata={})

    async def all_handled() -> bool:
        return sent <= set(inbox.received) | set(record_lines(record))

    await eventually(all_handled, within=WITHIN)
    await other.wait_acked(sent, within=WITHIN)  # the other group gets every message
    # shared, not fanned out: each message went to one of the two (redeliveries aside)
    assert len(inbox.received) + len(record_lines(record)) < 2 * len(sent)


async def test_messages_of_a_killed_process_go_to_the_rest_of_the_group(
    make: Any, metadata: dict[str, Any], tmp_path: Path, kids: Children
) -> None:
    topic, record = unique("topic"), tmp_path / "held.log"
    spec = {"type": TYPE, "metadata": metadata, "home": str(tmp_path), "mode": "hold"}
    child = kids.start({**spec, "topic": topic, "group": "g", "record": str(record)})
    pubsub = await make()
    sent = {f"m-{n}".encode() for n in range(5)}
    for data in sorted(sent):
        await pubsub.publish(topic, data, metadata={})

    async def all_held() -> bool:
        return set(record_lines(record)) == sent

    await eventually(all_held, within=WITHIN)  # in flight in the child, unacknowledged
    child.send_signal(signal.SIGKILL)
    await asyncio.to_thread(child.wait, 10)
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group="g", metadata={})
    await inbox.wait_acked(
        sent, within=WITHIN
    )  # once the dead owner's leases ran out (processingTimeout)


async def test_a_group_keeps_its_messages_without_subscriber_across_restarts(make: Any) -> None:
    topic = unique("topic")
    first = await make()
    subscription = await first.subscribe(topic, Inbox(), consumer_group="g", metadata={})
    await subscription.aclose()
    await first.close()
    publisher = await make()
    await publisher.publish(topic, b"kept", metadata={})
    await publisher.close()
    inbox = Inbox()
    await (await make()).subscribe(topic, inbox, consumer_group="g", metadata={})
    await inbox.wait_acked({b"kept"}, within=WITHIN)


async def test_retention_deletes_what_every_group_acknowledged(
    make: Any, metadata: dict[str, Any]
) -> None:
    pubsub = await make()
    topic, nobody = unique("topic"), unique("topic")
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group="g", metadata={})
    for n in range(10):
        await pubsub.publish(topic, f"m-{n}".encode(), metadata={})
    await pubsub.publish(nobody, b"no group", metadata={})
    await inbox.wait_acked({f"m-{n}".encode() for n in range(10)}, within=WITHIN)

    def stored() -> int:
        with sqlite3.connect(metadata["connectionString"]) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM pubsub_messages").fetchone()[0])

    async def emptied() -> bool:
        return stored() == 0

    await eventually(emptied, within=WITHIN)


async def test_max_messages_bounds_the_file(make: Any, metadata: dict[str, Any]) -> None:
    pubsub = await make(maxMessages="5")
    topic = unique("topic")
    await (await pubsub.subscribe(topic, Inbox(), consumer_group="g", metadata={})).aclose()
    for n in range(20):
        await pubsub.publish(topic, f"m-{n}".encode(), metadata={})

    async def bounded() -> bool:
        with sqlite3.connect(metadata["connectionString"]) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM pubsub_messages").fetchone()[0]) <= 5

    await eventually(bounded, within=WITHIN)
    inbox = Inbox()
    await pubsub.subscribe(topic, inbox, consumer_group="g", metadata={}, concurrency=1)
    await inbox.wait_acked({b"m-19"}, within=WITHIN)
    assert b"m-0" not in inbox.received  # the oldest went beyond the bound


async def test_default_file_is_shared_under_home(tmp_path: Path) -> None:
    context = ComponentContext(name="any", app_id="a", namespace="default", home=tmp_path)
    pubsub = SqlitePubSub(SqlitePubSubMetadata.model_validate({}), context=context)
    await pubsub.init()
    try:
        assert (tmp_path / "data" / "pubsub.db").is_file()
    finally:
        await pubsub.close()


@pytest.mark.parametrize(
    "bad",
    [{"processingTimeout": "0"}, {"pollInterval": "-1s"}, {"maxMessages": "-1"}],
)
def test_bad_metadata_is_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        SqlitePubSubMetadata.model_validate(bad)


def test_durations_take_go_forms() -> None:
    meta = SqlitePubSubMetadata.model_validate({"PROCESSINGTIMEOUT": "1m30s", "maxAge": "0"})
    assert (meta.processing_timeout, meta.max_age) == (90.0, 0.0)


async def test_a_slow_handler_keeps_its_message(make: Any) -> None:
    """Leases are renewed while the handler runs: the other replica never gets the message."""
    one, two = await make(), await make()
    topic = unique("topic")
    release = asyncio.Event()
    slow: list[bytes] = []

    async def held(message: Message) -> Ack:
        slow.append(message.data)
        await release.wait()
        return Ack.ACK

    other = Inbox()
    await one.subscribe(topic, held, consumer_group="g", metadata={})
    await one.publish(topic, b"slow", metadata={})

    async def started() -> bool:
        return slow == [b"slow"]

    await eventually(started, within=WITHIN)
    await two.subscribe(topic, other, consumer_group="g", metadata={})
    began = time.monotonic()

    async def leases_would_have_run_out() -> bool:  # processingTimeout is 1s
        return time.monotonic() > began + 3

    await eventually(leases_would_have_run_out, within=10)
    release.set()
    await two.publish(topic, b"marker", metadata={})

    async def marker_handled() -> bool:  # by either replica: "slow" would have come before it
        return b"marker" in slow + other.received

    await eventually(marker_handled, within=WITHIN)
    assert b"slow" not in other.received
