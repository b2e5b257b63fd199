"""``RedisPubSub``: the ``pubsub.redis`` component (the package docstring has the contract)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import ComponentError, InvalidRequest, NotSupported
from components.pubsub._api import PubSubFeature
from components.pubsub._batch import Batcher
from components.pubsub._delivery import Deliveries
from components.pubsub._types import Ack, BulkMessage, Handler, Message
from components.pubsub.redis._metadata import RedisPubSubMetadata

__all__ = ["RedisPubSub"]

T = TypeVar("T")

TTL_KEY = "ttlInSeconds"
DATA, METADATA, CONTENT_TYPE, EXPIRES = b"data", b"metadata", b"contentType", b"expires"
_FEATURES = frozenset({PubSubFeature.MESSAGE_TTL, PubSubFeature.BULK_PUBLISH})
_BLOCK_MS = 2000  # one blocking read waits at most this long (then reads again)
_BROKER_ERRORS = (RedisError, OSError, TimeoutError)
_BACKOFF = (0.05, 2.0)  # reconnect pause: first, longest
_MAX_READERS = 10_000


def _fields(
    data: bytes, metadata: Mapping[str, str], content_type: str, now_ms: int
) -> dict[bytes, bytes]:
    fields = {DATA: bytes(data)}
    if metadata:
        fields[METADATA] = json.dumps(dict(metadata)).encode()
    if content_type:
        fields[CONTENT_TYPE] = content_type.encode()
    ttl = metadata.get(TTL_KEY)
    if ttl is not None:
        try:
            fields[EXPIRES] = str(now_ms + int(ttl) * 1000).encode()
        except ValueError:
            raise InvalidRequest(f"{TTL_KEY} must be a whole number, got {ttl!r}") from None
    return fields


def _message(topic: str, entry_id: bytes, fields: Mapping[bytes, bytes]) -> Message | None:
    """The message of a stream entry; None when it expired (TTL) or has no data."""
    expires = fields.get(EXPIRES, b"")
    if expires.isdigit() and int(expires) <= time.time() * 1000:
        return None
    data = fields.get(DATA)
    if data is None:
        return None
    metadata: dict[str, str] = {}
    raw = fields.get(METADATA)
    if raw:
        with contextlib.suppress(ValueError):
            decoded = json.loads(raw)
            if isinstance(decoded, dict):
                metadata = {str(k): str(v) for k, v in decoded.items()}
    return Message(
        id=entry_id.decode(),
        topic=topic,
        data=data,
        content_type=fields.get(CONTENT_TYPE, b"").decode(),
        metadata=metadata,
    )


@dataclass(frozen=True, slots=True)
class _Entry:
    topic: str
    fields: dict[bytes, bytes]
    trim: dict[str, Any]  # MAXLEN / MINID arguments of XADD


class _Subscription:
    """One consumer of one group: reads new entries, claims stale ones, renews its own."""

    def __init__(
        self, owner: RedisPubSub, topic: str, group: str, handler: Handler, concurrency: int
    ) -> None:
        self._owner = owner
        self._topic = topic
        self._key = topic.encode()
        self._group = group
        self._consumer = f"{group}-{uuid.uuid4().hex[:12]}"
        self._closed = False
        self._acks: list[bytes] = []
        self._acking: asyncio.Task[None] | None = None
        meta = owner.meta
        self._deliveries: Deliveries[bytes] = Deliveries(
            handler,
            concurrency=concurrency,
            limit=min(2 * concurrency, max(concurrency, meta.queue_depth)),
            settle=self._settle,
            log=owner.log,
            name="pubsub.redis deliver",
        )
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        meta = self._owner.meta
        self._tasks.append(asyncio.create_task(self._read_loop(), name="pubsub.redis read"))
        timeout = meta.processing_timeout
        if timeout > 0:
            self._tasks.append(asyncio.create_task(self._renew_loop(timeout / 3), name="renew"))
            if meta.redeliver_interval > 0:
                self._tasks.append(asyncio.create_task(self._claim_loop(), name="claim"))

    async def create_group(self) -> None:
        """The group, created at the stream's start when missing (as Dapr does)."""
        owner = self._owner
        try:
            await owner.call(owner.client.xgroup_create, self._key, self._group, "0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # ---- settling ---------------------------------------------------------------------------

    def _settle(self, entry_id: bytes, ack: Ack) -> None:
        if ack is not Ack.ACK:
            return  # stays pending, no longer renewed: claimed again after processingTimeout
        self._acks.append(entry_id)
        self._settle_later()

    async def _flush_acks(self) -> None:
        try:
            while self._acks:
                ids, self._acks = self._acks, []
                try:
                    await self._owner.call(self._owner.client.xack, self._key, self._group, *ids)
                except _BROKER_ERRORS as exc:
                    # Still pending: claimed and delivered again later (at-least-once).
                    self._owner.log.warning("pubsub.redis: XACK on %s failed: %s", self._topic, exc)
        finally:
            self._acking = None

    # ---- loops ------------------------------------------------------------------------------

    def _deliver(self, entries: Sequence[tuple[bytes, Mapping[bytes, bytes]]]) -> list[bytes]:
        """Queue ``entries``; returns the ids to acknowledge at once (expired, no data)."""
        dead = []
        for entry_id, fields in entries:
            message = _message(self._topic, entry_id, fields or {})
            if message is None:
                dead.append(entry_id)
            else:
                self._deliveries.put(message, entry_id)
        return dead

    async def _guarded(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` for ever; broker errors back off (and are logged once per outage); a
        lost stream or group (a flushed or restarted server) is created again."""
        pause = _BACKOFF[0]
        failing = False
        while True:
            try:
                await step()
            except ResponseError as exc:
                # The stream or group is gone (deleted, flushed, a restart without persistence)
                if "NOGROUP" in str(exc) or "no longer exists" in str(exc):
                    with contextlib.suppress(*_BROKER_ERRORS):
                        await self.create_group()
                        continue
                if not failing:
                    self._owner.log.warning(
                        "pubsub.redis: %s on %s failed, retrying: %s", what, self._topic, exc
                    )
                failing = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, _BACKOFF[1])
                continue
            except _BROKER_ERRORS as exc:
                if not failing:
                    self._owner.log.warning(
                        "pubsub.redis: %s on %s failed, retrying: %s", what, self._topic, exc
                    )
                failing = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, _BACKOFF[1])
                continue
            except Exception:  # a bug, or a reply this code does not expect: keep going
                self._owner.log.exception("pubsub.redis: %s on %s failed", what, self._topic)
                await asyncio.sleep(_BACKOFF[1])
                continue
            if failing:
                self._owner.log.info("pubsub.redis: %s on %s resumed", what, self._topic)
            failing, pause = False, _BACKOFF[0]

    async def _read_loop(self) -> None:
        owner, deliveries = self._owner, self._deliveries

        async def read() -> None:
            await deliveries.wait_free()
            count = min(deliveries.free(), owner.meta.queue_depth)
            reply: Any = await owner.call(
                owner.reader.xreadgroup,
                self._group,
                self._consumer,
                {self._key: ">"},
                count=count,
                block=_BLOCK_MS,
                extra=_BLOCK_MS / 1000,
            )
            for _, entries in reply or ():
                dead = self._deliver(entries)
                if dead:
                    self._acks.extend(dead)
                    self._settle_later()

        await self._guarded("reading", read)

    def _settle_later(self) -> None:
        if self._acking is None and self._acks:
            self._acking = asyncio.create_task(self._flush_acks(), name="pubsub.redis ack")

    async def _claim_loop(self) -> None:
        owner, deliveries = self._owner, self._deliveries
        idle_ms = int(owner.meta.processing_timeout * 1000)

        async def claim() -> None:
            await asyncio.sleep(owner.meta.redeliver_interval)
            start: bytes | str = "0-0"
            while deliveries.free() > 0:
                reply = await owner.call(
                    owner.client.xautoclaim,
                    self._key,
                    self._group,
                    self._consumer,
                    idle_ms,
                    start,
                    count=min(deliveries.free(), owner.meta.queue_depth),
                )
                start, entries = reply[0], reply[1]
                dead = self._deliver([(i, f) for i, f in entries if i is not None])
                if dead:
                    self._acks.extend(dead)
                    self._settle_later()
                if start in (b"0-0", "0-0"):
                    break

        await self._guarded("claiming", claim)

    async def _renew_loop(self, every: float) -> None:
        """Reset the idle time of the entries this consumer holds, so a live subscription's
        messages (however slow its handler) are not claimed by another consumer."""
        owner = self._owner

        async def renew() -> None:
            await asyncio.sleep(every)
            held = self._deliveries.held()
            if held:
                await owner.call(
                    owner.client.xclaim,
                    self._key,
                    self._group,
                    self._consumer,
                    0,
                    held,
                    justid=True,
                )

        await self._guarded("renewing", renew)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner.forget(self)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # bounded: a blocking read that does not end on cancellation must not hang close
            _, stuck = await asyncio.wait(self._tasks, timeout=self._owner.meta.read_timeout)
            if stuck:
                self._owner.log.warning("pubsub.redis: a read on %s did not stop", self._topic)
        left = await self._deliveries.aclose()
        while self._acking is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._acking)
        if left:
            # Hand them back: idle as if processingTimeout had passed, so the next claim of
            # any consumer of the group takes them.
            idle_ms = int(self._owner.meta.processing_timeout * 1000)
            with contextlib.suppress(*_BROKER_ERRORS):
                await self._owner.call(
                    self._owner.client.xclaim,
                    self._key,
                    self._group,
                    self._consumer,
                    0,
                    left,
                    idle=idle_ms,
                    justid=True,
                )
            return
        with contextlib.suppress(*_BROKER_ERRORS):  # a consumer with nothing pending
            pending = await self._owner.call(
                self._owner.client.xpending_range,
                self._key,
                self._group,
                "-",
                "+",
                1,
                consumername=self._consumer,
            )
            if not pending:
                await self._owner.call(
                    self._owner.client.xgroup_delconsumer, self._key, self._group, self._consumer
                )


class RedisPubSub:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="pubsub.redis")
    Metadata: ClassVar[type[BaseMetadata]] = RedisPubSubMetadata

    def __init__(self, metadata: RedisPubSubMetadata, *, context: ComponentContext) -> None:
        self.meta = metadata
        self._context = context
        self.log = context.logger
        self._client: Redis | None = None
        self._reader: Redis | None = None
        self._subscriptions: set[_Subscription] = set()
        self._publishes: Batcher[_Entry, Exception | None] = Batcher(
            self._flush_publishes, on_error=lambda _: None
        )

    @property
    def client(self) -> Redis:
        if self._client is None:
            raise ComponentError("pubsub.redis is not initialised or already closed")
        return self._client

    @property
    def reader(self) -> Redis:
        if self._reader is None:
            raise ComponentError("pubsub.redis is not initialised or already closed")
        return self._reader

    async def call(
        self, method: Callable[..., Awaitable[T]], *args: Any, extra: float = 0, **kwargs: Any
    ) -> T:
        """One command, bounded by ``readTimeout`` (+ ``extra`` for a blocking read)."""
        async with asyncio.timeout(self.meta.read_timeout + extra):
            return await method(*args, **kwargs)

    # ---- lifecycle -------------------------------------------------------------------------

    def _build_client(self, *, blocking_reads: bool) -> Redis:
        """The command client: a bounded pool (``poolSize``, default 10 per CPU, at least 20)
        whose callers wait for a free connection; or the client for blocking reads: one
        connection per subscription, unbounded."""
        md = self.meta
        host, port = md.address
        kwargs: dict[str, Any] = {
            "host": host,
            "port": port,
            "db": md.redis_db,
            "username": md.redis_username,
            "password": md.redis_password.get_secret_value() if md.redis_password else None,
            "socket_timeout": None,  # bounded per call (``call``): blocking reads vary
            "socket_connect_timeout": md.dial_timeout,
            "socket_keepalive": True,
            "retry": Retry(
                ExponentialWithJitterBackoff(base=0.008, cap=md.max_retry_backoff),
                max(md.max_retries, 0),
                supported_errors=(RedisConnectionError, RedisTimeoutError),
            ),
            "health_check_interval": 10,
            "decode_responses": False,
            "protocol": 2,
            "connection_class": SSLConnection if md.enable_tls else Connection,
        }
        pool: ConnectionPool
        if blocking_reads:
            pool = ConnectionPool(max_connections=_MAX_READERS, **kwargs)
        else:
            size = md.pool_size or max(20, 10 * (os.cpu_count() or 1))
            pool = BlockingConnectionPool(max_connections=size, timeout=md.read_timeout, **kwargs)
        return Redis.from_pool(pool)

    async def init(self) -> None:
        if self._client is not None:
            return
        client = self._build_client(blocking_reads=False)
        host, port = self.meta.address
        try:
            async with asyncio.timeout(self.meta.read_timeout + self.meta.dial_timeout):
                await client.ping()
        except _BROKER_ERRORS as exc:
            await client.aclose()
            raise ConnectionError(
                f"pubsub.redis {self._context.name}: cannot use redis at {host}:{port}: {exc}"
            ) from exc
        if self.meta.processing_timeout == 0:
            self.log.warning(
                "pubsub.redis %s: processingTimeout 0 disables redelivery: unacknowledged "
                "messages stay pending",
                self._context.name,
            )
        self._client = client
        self._reader = self._build_client(blocking_reads=True)

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        await self._publishes.drain()
        client, self._client = self._client, None
        reader, self._reader = self._reader, None
        for each in (client, reader):
            if each is not None:
                await each.aclose()

    def features(self) -> frozenset[PubSubFeature]:
        return _FEATURES

    def forget(self, subscription: _Subscription) -> None:
        self._subscriptions.discard(subscription)

    # ---- publishing ------------------------------------------------------------------------

    def _xadd_args(self, topic: str) -> dict[str, Any]:
        if not topic:
            raise InvalidRequest("empty topic name")
        md = self.meta
        if md.max_len_approx is not None:
            return {"maxlen": md.max_len_approx, "approximate": True}
        if md.stream_ttl is not None:
            return {"minid": f"{int((time.time() - md.stream_ttl) * 1000)}-0", "approximate": True}
        return {}

    async def _flush_publishes(self, entries: Sequence[_Entry]) -> list[Exception | None]:
        """One pipeline of XADDs; per-entry errors come back as values."""
        pipe = self.client.pipeline(transaction=False)
        for entry in entries:
            pipe.xadd(entry.topic, entry.fields, **entry.trim)  # type: ignore[arg-type]
        try:
            results = await self.call(pipe.execute, raise_on_error=False)
        except _BROKER_ERRORS as exc:
            raise ComponentError(f"pubsub.redis: publishing failed: {exc}") from exc
        return [
            ComponentError(f"pubsub.redis: publishing failed: {r}")
            if isinstance(r, Exception)
            else None
            for r in results
        ]

    async def publish(
        self,
        topic: str,
        data: bytes,
        *,
        metadata: Mapping[str, str],
        content_type: str = "",
    ) -> None:
        trim = self._xadd_args(topic)
        fields = _fields(data, metadata, content_type, int(time.time() * 1000))
        self.client  # noqa: B018 (raises when closed)
        error = await self._publishes.submit(_Entry(topic, fields, trim))
        if error is not None:
            raise error

    async def bulk_publish(
        self, topic: str, entries: Sequence[BulkMessage], *, metadata: Mapping[str, str]
    ) -> Mapping[str, Exception]:
        trim = self._xadd_args(topic)
        now_ms = int(time.time() * 1000)
        failed: dict[str, Exception] = {}
        sent: list[tuple[str, _Entry]] = []
        for entry in entries:
            try:
                merged = {**metadata, **entry.metadata}
                fields = _fields(entry.data, merged, entry.content_type, now_ms)
            except ComponentError as exc:
                failed[entry.entry_id] = exc
            else:
                sent.append((entry.entry_id, _Entry(topic, fields, trim)))
        if not sent:
            return failed
        try:
            results = await self._flush_publishes([e for _, e in sent])
        except ComponentError as exc:
            return {**failed, **{entry_id: exc for entry_id, _ in sent}}
        failed.update({entry_id: r for (entry_id, _), r in zip(sent, results, strict=True) if r})
        return failed

    # ---- subscribing -----------------------------------------------------------------------

    async def subscribe(
        self,
        topic: str,
        handler: Handler,
        *,
        consumer_group: str,
        metadata: Mapping[str, str],
        concurrency: int = 1,
    ) -> _Subscription:
        self.client  # noqa: B018 (raises when closed)
        if not topic:
            raise InvalidRequest("empty topic name")
        if "+" in topic or "#" in topic:
            raise NotSupported("pubsub.redis does not support wildcard subscriptions")
        if not consumer_group:
            raise InvalidRequest("empty consumer group")
        subscription = _Subscription(self, topic, consumer_group, handler, max(1, concurrency))
        try:
            await subscription.create_group()
        except _BROKER_ERRORS as exc:
            await subscription.aclose()
            raise ComponentError(f"pubsub.redis: subscribing to {topic!r} failed: {exc}") from exc
        subscription.start()
        self._subscriptions.add(subscription)
        return subscription
