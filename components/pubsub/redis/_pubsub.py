"""``RedisPubSub``: the ``pubsub.redis`` component (the package docstring has the contract)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import ComponentError, InvalidRequest, NotSupported
from components.pubsub._api import PubSubFeature
from components.pubsub._batch import Batcher
from components.pubsub._types import BulkMessage, Handler
from components.pubsub.redis._metadata import RedisPubSubMetadata
from components.pubsub.redis._subscription import (
    BROKER_ERRORS,
    CONTENT_TYPE,
    DATA,
    EXPIRES,
    METADATA,
    Subscription,
)

__all__ = ["RedisPubSub"]

T = TypeVar("T")

TTL_KEY = "ttlInSeconds"
_FEATURES = frozenset({PubSubFeature.MESSAGE_TTL, PubSubFeature.BULK_PUBLISH})
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


@dataclass(frozen=True, slots=True)
class _Entry:
    topic: str
    fields: dict[bytes, bytes]
    trim: dict[str, Any]  # MAXLEN / MINID arguments of XADD


class RedisPubSub:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="pubsub.redis")
    Metadata: ClassVar[type[BaseMetadata]] = RedisPubSubMetadata

    def __init__(self, metadata: RedisPubSubMetadata, *, context: ComponentContext) -> None:
        self.meta = metadata
        self._context = context
        self.log = context.logger
        self._client: Redis | None = None
        self._reader: Redis | None = None
        self._subscriptions: set[Subscription] = set()
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
        except BROKER_ERRORS as exc:
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

    def forget(self, subscription: Subscription) -> None:
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
        except BROKER_ERRORS as exc:
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
    ) -> Subscription:
        self.client  # noqa: B018 (raises when closed)
        if not topic:
            raise InvalidRequest("empty topic name")
        if "+" in topic or "#" in topic:
            raise NotSupported("pubsub.redis does not support wildcard subscriptions")
        if not consumer_group:
            raise InvalidRequest("empty consumer group")
        subscription = Subscription(self, topic, consumer_group, handler, max(1, concurrency))
        try:
            await subscription.create_group()
        except BROKER_ERRORS as exc:
            await subscription.aclose()
            raise ComponentError(f"pubsub.redis: subscribing to {topic!r} failed: {exc}") from exc
        subscription.start()
        self._subscriptions.add(subscription)
        return subscription
