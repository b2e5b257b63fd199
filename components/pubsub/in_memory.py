"""``pubsub.in-memory``: the reference pub/sub component, a broker inside this process.

Contract (features: MESSAGE_TTL, BULK_PUBSUB, BULK_SUBSCRIBE, SUBSCRIBE_WILDCARDS):
- not durable: messages live in this component instance and die with it;
- a consumer group is created by its first ``subscribe`` and then keeps receiving the topic's
  messages even while it has no subscriber (they wait for the next one), until ``close()``;
  a message published while a topic has no group is discarded;
- each group is a FIFO queue its subscriptions compete for; with ``concurrency=1`` and one
  subscriber, messages arrive in publish order (NACKed ones go back to the tail);
- a NACKed (or failed) message is requeued after ``redeliveryDelay`` (default 100ms); one
  whose handler was cancelled by ``aclose`` is requeued at the head at once;
- ``ttlInSeconds`` expires a message: it is never handed out after its deadline.

Every queue operation runs without awaiting, so it is atomic within the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field, field_validator

from components._duration import parse_duration
from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import ComponentError, InvalidRequest
from components.pubsub._api import PubSubFeature
from components.pubsub._types import Ack, BulkHandler, BulkMessage, Handler, Message

__all__ = ["InMemoryMetadata", "InMemoryPubSub"]

TTL_KEY = "ttlInSeconds"


class InMemoryMetadata(BaseMetadata):
    redelivery_delay: float = Field(default=0.1, alias="redeliveryDelay", ge=0)

    @field_validator("redelivery_delay", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class _Entry:
    message: Message
    expires_at: float | None  # time.monotonic()


def _matches(pattern: str, topic: str) -> bool:
    """MQTT-style: ``+`` is one level, a final ``#`` the remaining levels (at least zero)."""
    want, have = pattern.split("/"), topic.split("/")
    for i, part in enumerate(want):
        if part == "#":
            return i == len(want) - 1
        if i >= len(have) or (part != "+" and part != have[i]):
            return False
    return len(want) == len(have)


def _is_pattern(topic: str) -> bool:
    return "+" in topic or "#" in topic


class _Group:
    """One consumer group on one topic pattern: a queue its subscribers compete for."""

    def __init__(self) -> None:
        self._pending: deque[_Entry] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()

    def put(self, entry: _Entry, *, front: bool = False) -> None:
        if front:
            self._pending.appendleft(entry)
        else:
            self._pending.append(entry)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def take(self) -> _Entry | None:
        """The next live entry, without waiting (expired ones are discarded)."""
        now = time.monotonic()
        while self._pending:
            entry = self._pending.popleft()
            if entry.expires_at is None or entry.expires_at > now:
                return entry
        return None

    async def get(self) -> _Entry:
        while True:
            entry = self.take()
            if entry is not None:
                return entry
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass the wake-up on
                raise


class _Subscription:
    def __init__(self, owner: InMemoryPubSub) -> None:
        self._owner = owner
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    def start(self, workers: int, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._tasks = [asyncio.create_task(work(), name="pubsub.in-memory") for _ in range(workers)]

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner._subscriptions.discard(self)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class InMemoryPubSub:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="pubsub.in-memory")
    Metadata: ClassVar[type[BaseMetadata]] = InMemoryMetadata

    def __init__(self, metadata: InMemoryMetadata, *, context: ComponentContext) -> None:
        self._meta = metadata
        self._log = context.logger
        self._groups: dict[str, dict[str, _Group]] = {}  # topic pattern -> group name -> group
        self._subscriptions: set[_Subscription] = set()
        self._ids = itertools.count(1)
        self._closed = False
        self._requeues: set[asyncio.TimerHandle] = set()

    async def init(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        for handle in self._requeues:
            handle.cancel()
        self._requeues.clear()
        self._groups.clear()

    def features(self) -> frozenset[PubSubFeature]:
        return frozenset(PubSubFeature)

    # ---- publishing -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ComponentError("pubsub.in-memory is closed")

    def _enqueue(
        self, topic: str, data: bytes, metadata: Mapping[str, str], content_type: str
    ) -> None:
        if not topic or _is_pattern(topic):
            raise InvalidRequest(f"invalid topic name {topic!r}")
        expires_at = None
        ttl = metadata.get(TTL_KEY)
        if ttl is not None:
            try:
                expires_at = time.monotonic() + int(ttl)
            except ValueError:
                raise InvalidRequest(f"{TTL_KEY} must be a whole number, got {ttl!r}") from None
        for pattern, groups in self._groups.items():
            if pattern == topic or (_is_pattern(pattern) and _matches(pattern, topic)):
                for group in groups.values():
                    message = Message(
                        id=str(next(self._ids)),
                        topic=topic,
                        data=data,
                        content_type=content_type,
                        metadata=dict(metadata),
                    )
                    group.put(_Entry(message, expires_at))

    async def publish(
        self,
        topic: str,
        data: bytes,
        *,
        metadata: Mapping[str, str],
        content_type: str = "",
    ) -> None:
        self._check_open()
        self._enqueue(topic, data, metadata, content_type)

    async def bulk_publish(
        self, topic: str, entries: Sequence[BulkMessage], *, metadata: Mapping[str, str]
    ) -> Mapping[str, Exception]:
        self._check_open()
        failed: dict[str, Exception] = {}
        for entry in entries:
            try:
                self._enqueue(topic, entry.data, {**metadata, **entry.metadata}, entry.content_type)
            except ComponentError as exc:
                failed[entry.entry_id] = exc
        return failed

    # ---- subscribing ----------------------------------------------------------------------

    def _group(self, topic: str, consumer_group: str) -> _Group:
        self._check_open()
        if not topic:
            raise InvalidRequest("empty topic name")
        return self._groups.setdefault(topic, {}).setdefault(consumer_group, _Group())

    def _settle(self, group: _Group, entry: _Entry, ack: Ack) -> None:
        if ack is Ack.ACK or self._closed:
            return

        def requeue() -> None:
            self._requeues.discard(handle)
            group.put(entry)

        handle = asyncio.get_running_loop().call_later(self._meta.redelivery_delay, requeue)
        self._requeues.add(handle)

    async def subscribe(
        self,
        topic: str,
        handler: Handler,
        *,
        consumer_group: str,
        metadata: Mapping[str, str],
        concurrency: int = 1,
    ) -> _Subscription:
        group = self._group(topic, consumer_group)

        async def work() -> None:
            while True:
                entry = await group.get()
                try:
                    ack = await handler(entry.message)
                except asyncio.CancelledError:
                    group.put(entry, front=True)
                    raise
                except Exception:
                    self._log.debug("handler failed on message %s", entry.message.id, exc_info=True)
                    ack = Ack.NACK
                self._settle(group, entry, ack)

        subscription = _Subscription(self)
        subscription.start(max(1, concurrency), work)
        self._subscriptions.add(subscription)
        return subscription

    async def bulk_subscribe(
        self,
        topic: str,
        handler: BulkHandler,
        *,
        consumer_group: str,
        metadata: Mapping[str, str],
        max_messages: int,
        max_await_ms: int,
    ) -> _Subscription:
        group = self._group(topic, consumer_group)
        size = max(1, max_messages)

        async def work() -> None:
            while True:
                batch: list[_Entry] = []
                try:
                    batch.append(await group.get())
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(max(0, max_await_ms) / 1000):
                            while len(batch) < size:
                                batch.append(await group.get())
                    acks = await handler([e.message for e in batch])
                except asyncio.CancelledError:
                    for entry in reversed(batch):
                        group.put(entry, front=True)
                    raise
                except Exception:
                    self._log.debug("bulk handler failed", exc_info=True)
                    acks = {}
                for entry in batch:
                    self._settle(group, entry, acks.get(entry.message.id, Ack.NACK))

        subscription = _Subscription(self)
        subscription.start(1, work)
        self._subscriptions.add(subscription)
        return subscription
