"""What the pub/sub cases share beyond the generic harness (``tests.conformance._harness``)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from components.base import ComponentContext
from components.pubsub import Ack, Message, PubSub
from tests.conformance._harness import Case, eventually
from tests.conformance.pubsub.block import PubSubOptions

__all__ = [
    "DELIVERY_SECONDS",
    "Inbox",
    "MakePubSub",
    "PubSubCase",
    "built",
    "payloads",
    "publish_all",
]

PubSubCase = Case[PubSubOptions]
"""One entry of ``components.yaml``; the pub/sub fields are in ``case.options``."""

MakePubSub = Callable[..., Awaitable[PubSub]]
"""``make_pubsub(init=True)``: another component of the test's matrix entry."""

DELIVERY_SECONDS = 20.0
"""The longest a published message may take to reach a live subscriber."""


def payloads(prefix: str, count: int, start: int = 0) -> list[bytes]:
    return [f"{prefix}-{n}".encode() for n in range(start, start + count)]


class Inbox:
    """A handler that records every delivery; ``verdict`` decides each answer (default ACK).

    ``verdict`` may return an Ack or raise (a failed handler). ``in_flight``/``peak`` count
    concurrent calls; ``gate`` (when set) holds every call until it is set.
    """

    def __init__(self, verdict: Callable[[Message, int], Ack] | None = None) -> None:
        self.messages: list[Message] = []
        self.acked: list[bytes] = []
        self._verdict = verdict
        self.in_flight = 0
        self.peak = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, message: Message) -> Ack:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            self.messages.append(message)
            seen = sum(1 for m in self.messages if m.data == message.data)
            ack = self._verdict(message, seen) if self._verdict else Ack.ACK
            if ack is Ack.ACK:
                self.acked.append(message.data)
            return ack
        finally:
            self.in_flight -= 1

    @property
    def received(self) -> list[bytes]:
        return [m.data for m in self.messages]

    def count(self, data: bytes) -> int:
        return Counter(self.received)[data]

    async def wait_acked(self, expected: Iterable[bytes], within: float = DELIVERY_SECONDS) -> None:
        want = set(expected)

        async def done() -> bool:
            return want <= set(self.acked)

        await eventually(done, within=within, interval=0.02)


async def publish_all(
    pubsub: PubSub, topic: str, datas: Iterable[bytes], metadata: Mapping[str, str] | None = None
) -> None:
    """Publish one by one, in order (each publish returns once the broker accepted it)."""
    for data in datas:
        await pubsub.publish(topic, data, metadata=metadata or {})


P = TypeVar("P", bound=PubSub)


@asynccontextmanager
async def built(
    kind: type[P], defaults: Mapping[str, Any], home: Path, name: str = "pubsub"
) -> AsyncIterator[Callable[..., P]]:
    """``make(**metadata)``: a new, uninitialised ``kind`` component (its ``Metadata`` from
    ``defaults`` updated by ``metadata``; ``home`` its home); all are closed on exit, the last
    first. For the component-specific tests, which build a component class directly."""
    made: list[P] = []

    def make(**metadata: Any) -> P:
        cls: Any = kind  # a catalog class: ``Metadata``, ``__init__(metadata, *, context)``
        context = ComponentContext(name=name, app_id="test", namespace="default", home=home)
        component: P = cls(cls.Metadata.model_validate({**defaults, **metadata}), context=context)
        made.append(component)
        return component

    try:
        yield make
    finally:
        for component in reversed(made):
            await component.close()
