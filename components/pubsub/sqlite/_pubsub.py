"""``SqlitePubSub``: the ``pubsub.sqlite`` component (the package docstring has the contract)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import ComponentError, InvalidRequest, NotSupported
from components.pubsub._api import PubSubFeature
from components.pubsub._batch import Batcher
from components.pubsub._delivery import Deliveries
from components.pubsub._types import Ack, BulkMessage, Handler, Message
from components.pubsub.sqlite import _sql
from components.pubsub.sqlite._db import Database
from components.pubsub.sqlite._metadata import SqlitePubSubMetadata
from components.pubsub.sqlite._poke import Poker

__all__ = ["SqlitePubSub"]

TTL_KEY = "ttlInSeconds"
_FEATURES = frozenset({PubSubFeature.MESSAGE_TTL, PubSubFeature.BULK_PUBLISH})
_RETRY_PAUSE = 0.5  # after a failed claim (e.g. the file is locked for longer than timeout)


def _expires(metadata: Mapping[str, str], now: float) -> float | None:
    ttl = metadata.get(TTL_KEY)
    if ttl is None:
        return None
    try:
        return now + int(ttl)
    except ValueError:
        raise InvalidRequest(f"{TTL_KEY} must be a whole number, got {ttl!r}") from None


class _Subscription:
    """One subscription: claims from its group into ``Deliveries`` whenever woken."""

    def __init__(
        self, owner: SqlitePubSub, topic: str, grp: int, handler: Handler, concurrency: int
    ) -> None:
        self._owner = owner
        self.topic = topic
        self._grp = grp
        self._id = uuid.uuid4().hex  # the lease owner
        self._wake = asyncio.Event()
        self._closed = False
        meta = owner.meta
        self._deliveries: Deliveries[int] = Deliveries(
            handler,
            concurrency=concurrency,
            limit=3 * concurrency,
            settle=self._settle,
            log=owner.log,
            name="pubsub.sqlite deliver",
        )
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="pubsub.sqlite claim"),
            asyncio.create_task(self._renew_loop(meta.processing_timeout / 3), name="renew"),
        ]

    def wake(self) -> None:
        self._wake.set()

    def _settle(self, seq: int, ack: Ack) -> None:
        meta = self._owner.meta
        if ack is Ack.ACK:
            redeliver_at = None
        else:
            redeliver_at = time.time() + meta.redelivery_delay
            asyncio.get_running_loop().call_later(meta.redelivery_delay, self._wake.set)
        self._owner.settles.push(_sql.Settle(self._grp, seq, self._id, redeliver_at))

    async def _claim_loop(self) -> None:
        owner, deliveries = self._owner, self._deliveries
        backlog = False  # the last claim filled its count: more rows are likely waiting
        while True:
            # under backlog, claim a batch at a time (one database hop each), not one per slot
            free = await deliveries.wait_free(deliveries.batch if backlog else 1)
            self._wake.clear()
            now = time.time()
            backlog = False
            try:
                claim = functools.partial(
                    _sql.claim,
                    grp=self._grp,
                    topic=self.topic,
                    owner=self._id,
                    count=free,
                    now=now,
                    lease_until=now + owner.meta.processing_timeout,
                )
                taken = await owner.db.run(claim)
            except Exception:
                owner.log.warning(
                    "pubsub.sqlite: claiming from %s failed", self.topic, exc_info=True
                )
                await asyncio.sleep(_RETRY_PAUSE)
                continue
            for c in taken:
                message = Message(
                    id=str(c.seq),
                    topic=c.topic,
                    data=c.data,
                    content_type=c.content_type,
                    metadata=c.metadata,
                )
                deliveries.put(message, c.seq)
            backlog = len(taken) >= free
            if not taken:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(owner.meta.poll_interval):
                        await self._wake.wait()

    async def _renew_loop(self, every: float) -> None:
        owner = self._owner
        while True:
            await asyncio.sleep(every)
            if not self._deliveries.held():
                continue
            try:
                await owner.db.run(
                    _sql.extend, self._id, time.time() + owner.meta.processing_timeout
                )
            except Exception:
                owner.log.warning("pubsub.sqlite: renewing leases failed", exc_info=True)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        owner = self._owner
        owner.forget(self)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        left = await self._deliveries.aclose()
        await owner.settles.drain()
        if not owner.open:
            return
        try:
            if left:
                await owner.db.run(_sql.release, self._id)
                await owner.poke([self.topic])
            await owner.unlisten(self.topic)
        except Exception:
            owner.log.warning("pubsub.sqlite: releasing %s failed", self.topic, exc_info=True)


class SqlitePubSub:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="pubsub.sqlite")
    Metadata: ClassVar[type[BaseMetadata]] = SqlitePubSubMetadata

    def __init__(self, metadata: SqlitePubSubMetadata, *, context: ComponentContext) -> None:
        self.meta = metadata
        self._context = context
        self.log = context.logger
        database, uri = self._database()
        self.db = Database(database, uri=uri, timeout=metadata.timeout, name="pubsub.sqlite")
        self._poker = Poker(self._on_poke)
        self._subscriptions: dict[str, set[_Subscription]] = {}
        self.open = False
        self._publishes: Batcher[_sql.Published, None] = Batcher(
            self._flush_publishes, on_error=self._log_error
        )
        self.settles: Batcher[_sql.Settle, None] = Batcher(
            self._flush_settles, on_error=self._log_error
        )
        self._tasks: list[asyncio.Task[None]] = []

    def _database(self) -> tuple[str, bool]:
        cs = self.meta.connection_string
        if cs is None:
            path = self._context.home / "data" / "pubsub.db"
        elif cs.startswith("file:"):
            return cs, True  # a URI: its folder is the user's business
        else:
            path = Path(cs)
        return str(path), False

    def _log_error(self, exc: BaseException) -> None:
        self.log.warning("pubsub.sqlite: a write failed: %s", exc)

    # ---- lifecycle -------------------------------------------------------------------------

    async def init(self) -> None:
        database, uri = self._database()
        if not uri and database != ":memory:":
            await asyncio.to_thread(Path(database).parent.mkdir, parents=True, exist_ok=True)
        await self.db.open()
        try:
            await self.db.run(_sql.migrate)
            await self._poker.open()
        except BaseException:
            await self.db.close()
            raise
        self.open = True
        self._tasks = [
            asyncio.create_task(self._cleanup_loop(), name="pubsub.sqlite cleanup"),
            asyncio.create_task(self._listen_loop(), name="pubsub.sqlite listen"),
        ]

    async def close(self) -> None:
        for subscriptions in list(self._subscriptions.values()):
            for subscription in list(subscriptions):
                await subscription.aclose()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._publishes.drain()
        await self.settles.drain()
        if self.open:
            self.open = False
            with contextlib.suppress(Exception):
                await self.db.run(_sql.unlisten, None, self._poker.port)
        self._poker.close()
        await self.db.close()

    def features(self) -> frozenset[PubSubFeature]:
        return _FEATURES

    async def _cleanup_loop(self) -> None:
        meta = self.meta
        while True:
            await asyncio.sleep(meta.cleanup_interval)
            try:
                _, forced = await self.db.run(
                    _sql.cleanup, time.time(), meta.max_age, meta.max_messages
                )
            except Exception:
                self.log.warning("pubsub.sqlite: retention failed", exc_info=True)
                continue
            if forced:
                self.log.warning(
                    "pubsub.sqlite: deleted %d messages over the maxAge/maxMessages bound, "
                    "possibly before every consumer group received them",
                    forced,
                )

    async def _listen_loop(self) -> None:
        """Refresh this instance's listener rows well within ``LISTENER_TTL``."""
        while True:
            await asyncio.sleep(_sql.LISTENER_TTL / 4)
            topics = list(self._subscriptions)
            if topics:
                with contextlib.suppress(Exception):
                    await self.db.run(_sql.listen, topics, self._poker.port, time.time())

    # ---- publishing ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if not self.open:
            raise ComponentError("pubsub.sqlite is not initialised or already closed")

    @staticmethod
    def _prepare(
        topic: str, data: bytes, metadata: Mapping[str, str], content_type: str, now: float
    ) -> _sql.Published:
        if not topic:
            raise InvalidRequest("empty topic name")
        expires = _expires(metadata, now)
        return _sql.Published(topic, bytes(data), content_type, json.dumps(dict(metadata)), expires)

    async def _flush_publishes(self, items: Sequence[_sql.Published]) -> list[None]:
        try:
            ports = await self.db.run(_sql.insert, items, time.time())
        except sqlite3.Error as exc:  # e.g. the file stayed locked longer than ``timeout``
            raise ComponentError(f"pubsub.sqlite: publishing failed: {exc}") from exc
        for topic, listeners in ports.items():
            self._poker.poke(topic, listeners)
        return [None] * len(items)

    async def _flush_settles(self, items: Sequence[_sql.Settle]) -> list[None]:
        await self.db.run(_sql.settle, items)
        return [None] * len(items)

    async def publish(
        self,
        topic: str,
        data: bytes,
        *,
        metadata: Mapping[str, str],
        content_type: str = "",
    ) -> None:
        self._check_open()
        await self._publishes.submit(
            self._prepare(topic, data, metadata, content_type, time.time())
        )

    async def bulk_publish(
        self, topic: str, entries: Sequence[BulkMessage], *, metadata: Mapping[str, str]
    ) -> Mapping[str, Exception]:
        self._check_open()
        now = time.time()
        failed: dict[str, Exception] = {}
        prepared: list[tuple[str, _sql.Published]] = []
        for entry in entries:
            try:
                item = self._prepare(
                    topic, entry.data, {**metadata, **entry.metadata}, entry.content_type, now
                )
            except ComponentError as exc:
                failed[entry.entry_id] = exc
            else:
                prepared.append((entry.entry_id, item))
        if prepared:
            try:  # one transaction: all or none of them
                await self._flush_publishes([item for _, item in prepared])
            except Exception as exc:
                failed.update({entry_id: exc for entry_id, _ in prepared})
        return failed

    # ---- subscribing -----------------------------------------------------------------------

    def _on_poke(self, topic: str | None) -> None:
        if topic is None:
            targets = [s for group in self._subscriptions.values() for s in group]
        else:
            targets = list(self._subscriptions.get(topic, ()))
        for subscription in targets:
            subscription.wake()

    async def poke(self, topics: Sequence[str]) -> None:
        rows = await self.db.run(_sql.listeners, list(topics), time.time())
        for topic, listeners in rows.items():
            self._poker.poke(topic, listeners)

    def forget(self, subscription: _Subscription) -> None:
        group = self._subscriptions.get(subscription.topic)
        if group is not None:
            group.discard(subscription)

    async def unlisten(self, topic: str) -> None:
        if not self._subscriptions.get(topic):
            self._subscriptions.pop(topic, None)
            await self.db.run(_sql.unlisten, [topic], self._poker.port)

    async def subscribe(
        self,
        topic: str,
        handler: Handler,
        *,
        consumer_group: str,
        metadata: Mapping[str, str],
        concurrency: int = 1,
    ) -> _Subscription:
        self._check_open()
        if not topic:
            raise InvalidRequest("empty topic name")
        if "+" in topic or "#" in topic:
            raise NotSupported("pubsub.sqlite does not support wildcard subscriptions")
        if not consumer_group:
            raise InvalidRequest("empty consumer group")
        grp = await self.db.run(_sql.ensure_group, topic, consumer_group)
        await self.db.run(_sql.listen, [topic], self._poker.port, time.time())
        subscription = _Subscription(self, topic, grp, handler, max(1, concurrency))
        self._subscriptions.setdefault(topic, set()).add(subscription)
        return subscription
