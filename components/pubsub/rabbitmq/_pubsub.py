"""``RabbitMQPubSub``: the ``pubsub.rabbitmq`` component (the package docstring has the
contract)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

import aio_pika
import aiormq.exceptions
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
    ExchangeType,
)

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import ComponentError, InvalidRequest
from components.pubsub._api import PubSubFeature
from components.pubsub._dispatch import check_topic, verdict
from components.pubsub._types import Ack, Handler, Message
from components.pubsub.rabbitmq._metadata import RabbitMQMetadata

__all__ = ["RabbitMQPubSub"]

_TIMEOUT = 5.0  # connecting, declaring, and waiting for a publisher confirm
_TTL_KEY = "ttlInSeconds"
_MAX_NAME = 255  # AMQP short string: exchange and queue names
_FAILURES = (aiormq.exceptions.AMQPError, ConnectionError, OSError, asyncio.TimeoutError)


def _ttl_ms(metadata: Mapping[str, str]) -> str | None:
    ttl = metadata.get(_TTL_KEY)
    if ttl is None:
        return None
    try:
        seconds = int(ttl)
    except ValueError:
        raise InvalidRequest(f"{_TTL_KEY} must be a whole number, got {ttl!r}") from None
    if seconds <= 0:
        raise InvalidRequest(f"{_TTL_KEY} must be positive, got {ttl!r}")
    return str(seconds * 1000)


class _Subscription:
    """One queue consumed on a channel of its own, handler calls bounded by a semaphore."""

    def __init__(self, owner: RabbitMQPubSub, handler: Handler, concurrency: int) -> None:
        self._owner = owner
        self._handler = handler
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._concurrency = max(1, concurrency)
        self._running: set[asyncio.Task[Any]] = set()
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._closed = False

    async def start(self, topic: str, queue_name: str, routing_key: str, args: Any) -> None:
        owner = self._owner
        meta = owner._meta
        channel = await owner._connection().channel(publisher_confirms=False)
        self._channel = channel
        await channel.set_qos(prefetch_count=meta.prefetch_count or self._concurrency)
        exchange = await owner._declare_exchange(channel, topic)
        queue = await channel.declare_queue(
            queue_name,
            durable=meta.durable,
            auto_delete=meta.deleted_when_unused,
            arguments=args,
            timeout=_TIMEOUT,
        )
        for key in routing_key.split(","):
            await queue.bind(exchange, routing_key=key.strip(), timeout=_TIMEOUT)
        self._queue = queue
        self._tag = await queue.consume(self._on_message, no_ack=False, timeout=_TIMEOUT)

    async def _on_message(self, incoming: AbstractIncomingMessage) -> None:
        """Called by the client in a task of its own per delivery (at most prefetch of them)."""
        if self._closed:
            return  # left unacknowledged: requeued when the channel closes
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            async with self._slots:
                await self._handle(incoming)
        finally:
            self._running.discard(task)

    async def _handle(self, incoming: AbstractIncomingMessage) -> None:
        routing = incoming.routing_key or ""
        message = Message(
            id=str(incoming.delivery_tag),
            topic=incoming.exchange or routing,
            data=incoming.body,
            content_type=incoming.content_type or "",
            metadata={"routingKey": routing} if routing else {},
        )
        ack = await verdict(self._handler, message, self._owner._log)
        try:
            if ack is Ack.ACK:
                await incoming.ack()
            else:
                await incoming.nack(requeue=self._owner._meta.requeue_in_failure)
        except Exception as exc:  # the channel went away: the broker requeued the message
            self._owner._log.debug("pubsub.rabbitmq could not settle a message: %r", exc)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner._subscriptions.discard(self)
        if self._queue is not None and self._tag is not None:
            with contextlib.suppress(Exception):
                await self._queue.cancel(self._tag, timeout=_TIMEOUT)
        running = list(self._running)
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # Closing the channel requeues every message it left unacknowledged.
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()


class RabbitMQPubSub:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="pubsub.rabbitmq")
    Metadata: ClassVar[type[BaseMetadata]] = RabbitMQMetadata

    def __init__(self, metadata: RabbitMQMetadata, *, context: ComponentContext) -> None:
        self._meta = metadata
        self._log = context.logger
        self._conn: AbstractRobustConnection | None = None
        self._publisher: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._subscriptions: set[_Subscription] = set()
        self._connected = False

    async def init(self) -> None:
        meta = self._meta
        self._conn = await aio_pika.connect_robust(
            meta.url,
            timeout=_TIMEOUT,
            reconnect_interval=meta.reconnect_wait,
            client_properties={"connection_name": meta.client_name},
            heartbeat=int(meta.heartbeat),
        )
        self._connected = True
        self._conn.close_callbacks.add(self._on_lost)
        self._conn.reconnect_callbacks.add(self._on_back)
        self._publisher = await self._conn.channel(publisher_confirms=True)

    def _on_lost(self, *_: Any) -> None:
        self._connected = False

    def _on_back(self, *_: Any) -> None:
        self._connected = True
        self._exchanges.clear()  # declare again: the broker may have lost them

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        conn, self._conn, self._publisher = self._conn, None, None
        self._exchanges.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def features(self) -> frozenset[PubSubFeature]:
        return frozenset({PubSubFeature.MESSAGE_TTL})

    def _connection(self) -> AbstractRobustConnection:
        if self._conn is None:
            raise ComponentError("pubsub.rabbitmq is not initialised or closed")
        if not self._connected or self._conn.is_closed:
            raise ComponentError("pubsub.rabbitmq: not connected to RabbitMQ")
        return self._conn

    @staticmethod
    def _check(topic: str, *, subscribing: bool) -> None:
        check_topic(topic, subscribing=subscribing, wildcards=False)
        if len(topic.encode()) > _MAX_NAME:
            raise InvalidRequest(f"topic name longer than {_MAX_NAME} bytes")

    async def _declare_exchange(self, channel: AbstractChannel, topic: str) -> AbstractExchange:
        return await channel.declare_exchange(
            topic, ExchangeType(self._meta.exchange_kind), durable=True, timeout=_TIMEOUT
        )

    async def publish(
        self,
        topic: str,
        data: bytes,
        *,
        metadata: Mapping[str, str],
        content_type: str = "",
    ) -> None:
        self._check(topic, subscribing=False)
        expiration = _ttl_ms(metadata)
        self._connection()  # fails fast while reconnecting
        channel = self._publisher
        assert channel is not None
        message = aio_pika.Message(
            data,
            content_type=content_type or None,
            delivery_mode=self._meta.delivery_mode or None,
            expiration=int(expiration) / 1000 if expiration else None,
        )
        try:
            exchange = self._exchanges.get(topic)
            if exchange is None:
                exchange = await self._declare_exchange(channel, topic)
                self._exchanges[topic] = exchange
            # The channel is in confirm mode: this returns once the broker confirmed.
            await exchange.publish(
                message, routing_key=metadata.get("routingKey", ""), timeout=_TIMEOUT
            )
        except _FAILURES as exc:
            self._exchanges.pop(topic, None)
            raise ComponentError(f"pubsub.rabbitmq: publish to {topic!r} failed: {exc!r}") from exc

    def _queue_arguments(self, queue: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        meta = self._meta
        args: dict[str, Any] = {}
        if meta.ttl_in_seconds:
            args["x-message-ttl"] = meta.ttl_in_seconds * 1000
        if meta.max_len is not None:
            args["x-max-length"] = meta.max_len
        if meta.max_len_bytes is not None:
            args["x-max-length-bytes"] = meta.max_len_bytes
        if meta.enable_dead_letter:
            args["x-dead-letter-exchange"] = f"dlx-{queue}"
        if metadata.get("queueType"):
            args["x-queue-type"] = metadata["queueType"]
        if metadata.get("maxPriority"):
            args["x-max-priority"] = int(metadata["maxPriority"])
        return args

    async def _dead_letters(self, queue: str) -> None:
        channel = self._publisher
        assert channel is not None
        exchange = await channel.declare_exchange(
            f"dlx-{queue}", ExchangeType.FANOUT, durable=True, timeout=_TIMEOUT
        )
        dlq = await channel.declare_queue(f"dlq-{queue}", durable=True, timeout=_TIMEOUT)
        await dlq.bind(exchange, timeout=_TIMEOUT)

    async def subscribe(
        self,
        topic: str,
        handler: Handler,
        *,
        consumer_group: str,
        metadata: Mapping[str, str],
        concurrency: int = 1,
    ) -> _Subscription:
        self._check(topic, subscribing=True)
        self._connection()
        queue = metadata.get("queueName") or f"{consumer_group}-{topic}"
        if len(queue.encode()) > _MAX_NAME:
            raise InvalidRequest(f"queue name {queue[:40]!r}... longer than {_MAX_NAME} bytes")
        subscription = _Subscription(self, handler, concurrency)
        try:
            args = self._queue_arguments(queue, metadata)
            if self._meta.enable_dead_letter:
                await self._dead_letters(queue)
            await subscription.start(topic, queue, metadata.get("routingKey", ""), args)
        except ValueError as exc:
            await subscription.aclose()
            raise InvalidRequest(f"pubsub.rabbitmq: bad subscription metadata: {exc}") from exc
        except _FAILURES as exc:
            await subscription.aclose()
            raise ComponentError(f"pubsub.rabbitmq: subscribe to {topic!r}: {exc!r}") from exc
        self._subscriptions.add(subscription)
        return subscription
