"""The outbox's second phase against real in-memory components: an internal message is
published only once its transaction's marker exists, retried while it may still commit, and
dropped when the transaction evidently failed."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from components.base import ComponentContext
from components.pubsub import Ack, Message
from components.pubsub.in_memory import InMemoryMetadata as PubSubMetadata
from components.pubsub.in_memory import InMemoryPubSub
from components.state.in_memory import InMemoryMetadata, InMemoryStateStore
from runtime.compstore import ComponentStore, LiveComponent
from runtime.services.pubsub import PubSubService
from runtime.services.pubsub_outbox import MISSING_WINDOW, Outbox
from runtime.services.state import SaveItem, StateService, TxOperation

OUTBOX = {"outboxpublishpubsub": "pubsub", "outboxpublishtopic": "out"}


async def services(tmp_path: Path, **extra: str) -> tuple[Outbox, StateService, InMemoryPubSub]:
    ctx = ComponentContext(name="x", app_id="app", namespace="default", home=tmp_path)
    store = InMemoryStateStore(InMemoryMetadata(), context=ctx)
    pubsub = InMemoryPubSub(PubSubMetadata(), context=ctx)
    await store.init()
    await pubsub.init()
    components = ComponentStore()
    components.add(
        LiveComponent(
            name="store",
            type="state.in-memory",
            version="v1",
            block="state",
            instance=store,
            runtime_metadata={**OUTBOX, **extra},
        )
    )
    components.add(
        LiveComponent(
            name="pubsub", type="pubsub.in-memory", version="v1", block="pubsub", instance=pubsub
        )
    )
    service = PubSubService(components, app_id="app")
    state = StateService(components, app_id="app")
    outbox = Outbox(components, service, app_id="app")
    state.set_outbox(outbox)
    outbox._state = state  # phase 2 without its subscription: messages are handed in directly
    return outbox, state, pubsub


def internal(tid: str, *, age: float = 0.0) -> Message:
    doc = {
        "tid": tid,
        "store": "store",
        "created": time.time() - age,
        "events": [{"data": "eyJ2IjoxfQ==", "contentType": "application/json", "metadata": {}}],
    }
    return Message(id="1", topic="appstoreoutbox", data=json.dumps(doc).encode())


async def published(pubsub: InMemoryPubSub) -> list[Message]:
    got: list[Message] = []

    async def keep(message: Message) -> Ack:
        got.append(message)
        return Ack.ACK

    await pubsub.subscribe("out", keep, consumer_group="probe", metadata={})
    return got


async def test_committed_transaction_is_published_and_its_marker_removed(tmp_path: Path) -> None:
    outbox, state, pubsub = await services(tmp_path)
    got = await published(pubsub)
    await state.save("store", [SaveItem(key="outbox-t1", value=b"0")])
    assert await outbox._handle(internal("t1")) is Ack.ACK
    assert (await state.get("store", "outbox-t1")).value is None
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.01)
    assert json.loads(got[0].data)["data"] == {"v": 1}


@pytest.mark.parametrize(
    ("extra", "age", "expected"),
    [
        ({}, 0.0, Ack.NACK),  # may still commit: try again later
        ({}, MISSING_WINDOW + 1, Ack.ACK),  # evidently failed: dropped
        ({"outboxdiscardwhenmissingstate": "true"}, 0.0, Ack.ACK),
    ],
)
async def test_missing_marker(
    tmp_path: Path, extra: dict[str, str], age: float, expected: Ack
) -> None:
    outbox, _, pubsub = await services(tmp_path, **extra)
    got = await published(pubsub)
    assert await outbox._handle(internal("t2", age=age)) is expected
    assert got == []


async def test_projection_replaces_the_published_value_and_is_not_stored(tmp_path: Path) -> None:
    _, state, pubsub = await services(tmp_path)
    internal_messages: list[Message] = []

    async def keep(message: Message) -> Ack:
        internal_messages.append(message)
        return Ack.ACK

    await pubsub.subscribe("appstoreoutbox", keep, consumer_group="probe", metadata={})
    ops = [
        TxOperation(operation="upsert", item=SaveItem(key="k", value=b'"stored"')),
        TxOperation(
            operation="upsert",
            item=SaveItem(key="k", value=b'"shown"', metadata={"outbox.projection": "true"}),
        ),
    ]
    await state.transact("store", ops)
    assert (await state.get("store", "k")).value == b'"stored"'
    for _ in range(100):
        if internal_messages:
            break
        await asyncio.sleep(0.01)
    (event,) = json.loads(internal_messages[0].data)["events"]
    assert event["data"] == "InNob3duIg=="  # base64 of "shown"
