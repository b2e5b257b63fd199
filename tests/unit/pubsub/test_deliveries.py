"""``components.pubsub._delivery.Deliveries``: the bound on held messages and batched reads."""

from __future__ import annotations

import asyncio
import logging

from components.pubsub import Ack, Message
from components.pubsub._delivery import Deliveries
from tests.waiting import eventually


async def test_wait_free_returns_once_enough_slots_are_free() -> None:
    gate = asyncio.Event()
    settled: list[tuple[int, Ack]] = []

    async def handler(message: Message) -> Ack:
        await gate.wait()
        return Ack.ACK

    deliveries: Deliveries[int] = Deliveries(
        handler,
        concurrency=4,
        limit=12,
        settle=lambda token, ack: settled.append((token, ack)),
        log=logging.getLogger("test"),
        name="test",
    )
    assert deliveries.batch == 4
    for n in range(12):
        assert deliveries.put(Message(id=str(n), topic="t", data=b""), n)
    assert deliveries.free() == 0
    waiter = asyncio.create_task(deliveries.wait_free(deliveries.batch))
    await asyncio.sleep(0)
    assert not waiter.done()
    gate.set()
    assert await waiter >= 4  # woken with a batch free, whatever was settled meanwhile
    await eventually(lambda: len(settled) == 12, within=5, interval=0.01)
    assert sorted(token for token, _ in settled) == list(range(12))
    assert all(ack is Ack.ACK for _, ack in settled)
    assert await deliveries.wait_free(100) == 12  # capped by the limit
    assert await deliveries.aclose() == []
