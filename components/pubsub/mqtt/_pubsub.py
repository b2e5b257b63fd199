"""``MqttPubSub``: the ``pubsub.mqtt3`` component (the package docstring has the contract)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

import aiomqtt

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import ComponentError, InvalidRequest, NotSupported
from components.pubsub._api import PubSubFeature
from components.pubsub._dispatch import Backoff, Dispatcher, check_topic, is_pattern, verdict
from components.pubsub._types import Ack, Handler, Message
from components.pubsub.mqtt._metadata import MqttMetadata
from components.pubsub.mqtt._sessions import SessionSlot, base_id, claim_slot

__all__ = ["MqttPubSub"]

_TIMEOUT = 5.0  # connecting, subscribing, and waiting for a PUBACK
_MAX_TOPIC = 65535  # bytes, as MQTT encodes it


def _payload(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return b"" if value is None else str(value).encode()


class _Publisher:
    """The publishing connection (clean session), reconnected in the background."""

    def __init__(self, owner: MqttPubSub) -> None:
        self._owner = owner
        self.client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._connect()  # the first attempt raises: init() must fail loudly
        self._task = asyncio.create_task(self._watch(), name="pubsub.mqtt3 publisher")

    async def _connect(self) -> None:
        identifier = f"{self._owner._id_prefix}-pub-{secrets.token_hex(4)}"
        client = self._owner._client(identifier, clean_session=True)
        await client.__aenter__()
        self.client = client

    async def _watch(self) -> None:
        backoff = Backoff()
        while True:
            client = self.client
            if client is not None:
                with contextlib.suppress(aiomqtt.MqttError):
                    async for _ in client.messages:  # ends (raises) once disconnected
                        pass
                self.client = None
                with contextlib.suppress(Exception):
                    await client.__aexit__(None, None, None)
            try:
                await self._connect()
                backoff.reset()
            except aiomqtt.MqttError:
                await backoff.sleep()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)


class _Subscription:
    """One MQTT session (its own connection and client id) subscribed to one filter."""

    def __init__(
        self,
        owner: MqttPubSub,
        topic: str,
        group: str,
        handler: Handler,
        concurrency: int,
    ) -> None:
        self._owner = owner
        self._topic = topic
        self._filter = f"$share/{group}/{topic}"
        self._handler = handler
        self._dispatch = Dispatcher(concurrency, f"pubsub.mqtt3 {topic}")
        self._slot: SessionSlot | None = None
        meta = owner._meta
        if meta.clean_session:
            self._identifier = f"{base_id(group, topic)}-{secrets.token_hex(4)}"
        else:
            self._slot = claim_slot(owner._home, group, topic)
            self._identifier = self._slot.identifier
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(ready), name="pubsub.mqtt3 subscription")
        try:
            await ready
        except BaseException:
            await self.aclose()
            raise

    async def _run(self, ready: asyncio.Future[None]) -> None:
        meta = self._owner._meta
        backoff = Backoff()
        while True:
            try:
                client = self._owner._client(self._identifier, clean_session=meta.clean_session)
                # Acknowledge only once the handler said so (paho's manual acks).
                client._client.manual_ack_set(True)
                async with client:
                    await client.subscribe(self._filter, qos=meta.qos, timeout=_TIMEOUT)
                    if not ready.done():
                        ready.set_result(None)
                    backoff.reset()
                    async for incoming in client.messages:
                        await self._dispatch.wait_free()
                        self._dispatch.spawn(self._handle(client, incoming))
            except aiomqtt.MqttError as exc:
                if not ready.done():
                    ready.set_exception(
                        ComponentError(f"pubsub.mqtt3: subscribe to {self._topic!r}: {exc}")
                    )
                    return
                self._owner._log.debug("pubsub.mqtt3 subscription %s lost: %r", self._topic, exc)
            # Handlers still running cannot settle on the old connection; the broker sends
            # their messages again on the next one (duplicates, never losses).
            await backoff.sleep()

    async def _handle(self, client: aiomqtt.Client, incoming: aiomqtt.Message) -> None:
        message = Message(
            id=str(next(self._ids)),
            topic=incoming.topic.value,
            data=_payload(incoming.payload),
        )
        delay = self._owner._meta.redelivery_delay
        # MQTT has no negative acknowledgement, and Mosquitto resends an unacknowledged
        # message only when the session reconnects: a NACKed message is retried here, still
        # unacknowledged at the broker (a crash meanwhile gets it back from the session).
        for attempt in itertools.count():
            if attempt:
                await asyncio.sleep(delay)
            if await verdict(self._handler, message, self._owner._log) is Ack.ACK:
                break
        if incoming.qos > 0:
            with contextlib.suppress(Exception):
                client._client.ack(incoming.mid, incoming.qos)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner._subscriptions.discard(self)
        await self._dispatch.cancel()  # first, so nothing is acknowledged after this
        if self._task is not None:
            self._task.cancel()  # leaves the `async with`: DISCONNECT, the session stays
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._slot is not None:
            self._slot.release()


class MqttPubSub:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="pubsub.mqtt3")
    Metadata: ClassVar[type[BaseMetadata]] = MqttMetadata

    def __init__(self, metadata: MqttMetadata, *, context: ComponentContext) -> None:
        self._meta = metadata
        self._log = context.logger
        self._home = context.home
        self._id_prefix = metadata.consumer_id or context.app_id or "tandem"
        self._publisher: _Publisher | None = None
        self._subscriptions: set[_Subscription] = set()

    def _client(self, identifier: str, *, clean_session: bool) -> aiomqtt.Client:
        host, port, user, password = self._meta.endpoint
        return aiomqtt.Client(
            host,
            port,
            username=user,
            password=password,
            identifier=identifier,
            clean_session=clean_session,
            keepalive=int(self._meta.keep_alive),
            timeout=_TIMEOUT,
            tls_context=self._meta.ssl_context(),
        )

    async def init(self) -> None:
        publisher = _Publisher(self)
        try:
            await publisher.start()
        except aiomqtt.MqttError as exc:
            raise ComponentError(f"pubsub.mqtt3: cannot connect: {exc}") from exc
        self._publisher = publisher

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await publisher.close()

    def features(self) -> frozenset[PubSubFeature]:
        return frozenset({PubSubFeature.SUBSCRIBE_WILDCARDS})

    @staticmethod
    def _check(topic: str, metadata: Mapping[str, str], *, subscribing: bool) -> None:
        check_topic(topic, subscribing=subscribing, wildcards=True)
        if "\0" in topic or len(topic.encode()) > _MAX_TOPIC or topic.startswith("$"):
            raise InvalidRequest(f"invalid MQTT topic {topic[:80]!r}")
        if "ttlInSeconds" in metadata:
            raise NotSupported("pubsub.mqtt3 does not support ttlInSeconds (MQTT 3 has no expiry)")

    async def publish(
        self,
        topic: str,
        data: bytes,
        *,
        metadata: Mapping[str, str],
        content_type: str = "",
    ) -> None:
        self._check(topic, metadata, subscribing=False)
        if self._publisher is None:
            raise ComponentError("pubsub.mqtt3 is not initialised or closed")
        client = self._publisher.client
        if client is None:  # fails fast while reconnecting
            raise ComponentError("pubsub.mqtt3: not connected to the broker")
        try:
            # With qos >= 1 this returns once the broker's PUBACK (PUBCOMP for 2) arrived.
            await client.publish(
                topic, data, qos=self._meta.qos, retain=self._meta.retain, timeout=_TIMEOUT
            )
        except aiomqtt.MqttError as exc:
            raise ComponentError(f"pubsub.mqtt3: publish to {topic!r} failed: {exc}") from exc

    async def subscribe(
        self,
        topic: str,
        handler: Handler,
        *,
        consumer_group: str,
        metadata: Mapping[str, str],
        concurrency: int = 1,
    ) -> _Subscription:
        self._check(topic, {}, subscribing=True)
        if self._publisher is None:
            raise ComponentError("pubsub.mqtt3 is not initialised or closed")
        if not consumer_group or "/" in consumer_group or is_pattern(consumer_group):
            raise InvalidRequest(f"invalid consumer group {consumer_group!r} for MQTT $share")
        subscription = _Subscription(self, topic, consumer_group, handler, concurrency)
        await subscription.start()
        self._subscriptions.add(subscription)
        return subscription
