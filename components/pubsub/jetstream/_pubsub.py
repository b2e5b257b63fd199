"""``JetStreamPubSub``: the ``pubsub.jetstream`` component (the package docstring has the
contract)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import re
import ssl
from collections.abc import Mapping
from typing import Any, ClassVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import ComponentError, InvalidRequest, NotSupported
from components.pubsub._api import PubSubFeature
from components.pubsub._delivery import Deliveries
from components.pubsub._dispatch import Backoff, check_topic
from components.pubsub._types import Ack, Handler, Message
from components.pubsub.jetstream._metadata import JetStreamMetadata

__all__ = ["JetStreamPubSub"]

_API_TIMEOUT = 5.0  # JetStream API calls and publish acknowledgements
_FETCH_SECONDS = 5.0  # one long poll of a pull consumer
_SUBJECT = re.compile(r"[^\s*>]+")  # a literal NATS subject: no whitespace or wildcards
_NAME_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_CONTENT_TYPE = "Content-Type"
_POLICIES = {
    "all": api.DeliverPolicy.ALL,
    "new": api.DeliverPolicy.NEW,
    "last": api.DeliverPolicy.LAST,
    "sequence": api.DeliverPolicy.BY_START_SEQUENCE,
    "time": api.DeliverPolicy.BY_START_TIME,
}
# Failures of the connection (the client reconnects by itself; the caller retries later).
_TRANSIENT = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    asyncio.TimeoutError,
    OSError,
)


def _name(*parts: str) -> str:
    """A stream or consumer name for ``parts``: readable, safe, and unique per ``parts``."""
    readable = _NAME_SAFE.sub("_", "-".join(parts))[:48]
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]
    return f"{readable}-{digest}"


class _Subscription:
    """One pull consumer read by one loop into ``Deliveries`` (a window of 3x the concurrency;
    under a backlog each fetch waits for half of it to be free, then takes that many)."""

    def __init__(self, owner: JetStreamPubSub, topic: str, durable: str, handler: Handler) -> None:
        self._owner = owner
        self._topic = topic
        self._durable = durable
        self._handler = handler
        self._deliveries: Deliveries[Msg]
        self._pull: JetStreamContext.PullSubscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self, concurrency: int) -> None:
        self._deliveries = Deliveries(
            self._handler,
            concurrency=concurrency,
            limit=3 * concurrency,
            settle=self._settle,
            log=self._owner._log,
            name=f"pubsub.jetstream {self._topic}",
        )
        self._pull = await self._owner._bind(self._topic, self._durable)
        self._tasks = [
            asyncio.create_task(self._receive(), name="pubsub.jetstream receive"),
            asyncio.create_task(self._keep_alive(), name="pubsub.jetstream in-progress"),
        ]

    async def _receive(self) -> None:
        backoff = Backoff()
        log = self._owner._log
        deliveries = self._deliveries
        backlog = False
        while not self._closed:
            free = await deliveries.wait_free(deliveries.batch if backlog else 1)
            backlog = False
            try:
                if self._pull is None:
                    self._pull = await self._owner._bind(self._topic, self._durable)
                msgs = await self._pull.fetch(free, timeout=_FETCH_SECONDS)
            except nats.errors.TimeoutError:
                continue  # no message within the long poll
            except (nats.js.errors.NotFoundError, nats.js.errors.APIError, *_TRANSIENT) as exc:
                # Disconnected, or the stream/consumer went away (a broker that lost its
                # state): bind again once the connection is back.
                log.debug("pubsub.jetstream fetch on %s failed: %r", self._topic, exc)
                await self._unbind()
                await backoff.sleep()
                continue
            backoff.reset()
            backlog = len(msgs) >= free  # a full batch: more are likely waiting
            for msg in msgs:
                meta = msg.metadata
                headers = msg.headers or {}
                message = Message(
                    id=f"{meta.sequence.stream}.{meta.num_delivered}",
                    topic=msg.subject,
                    data=msg.data,
                    content_type=headers.get(_CONTENT_TYPE, ""),
                )
                deliveries.put(message, msg)

    def _settle(self, msg: Msg, ack: Ack) -> None:
        """Called by ``Deliveries`` without awaiting: the ack/nak is sent by a task."""
        task = asyncio.get_running_loop().create_task(self._send(msg, ack))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, msg: Msg, ack: Ack) -> None:
        try:
            if ack is Ack.ACK:
                await msg.ack()
            else:
                await msg.nak()
        except Exception as exc:  # connection gone: the broker redelivers after ackWait
            self._owner._log.debug("pubsub.jetstream could not settle a message: %r", exc)

    async def _unbind(self) -> None:
        pull, self._pull = self._pull, None
        if pull is not None:
            with contextlib.suppress(Exception):
                await pull.unsubscribe()

    async def _keep_alive(self) -> None:
        """Tell the broker that long-running handlers are still working (``in_progress``), so
        their messages are not redelivered after ``ackWait`` while being handled."""
        period = max(0.5, self._owner._meta.ack_wait / 3)
        while True:
            await asyncio.sleep(period)
            for msg in self._deliveries.held():  # queued ones too: they wait for a slot
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owner._subscriptions.discard(self)
        for task in self._tasks:
            task.cancel()
        # Unsubscribing also ends a fetch waiting inside nats-py, which does not always give up
        # on cancellation alone (asyncio.wait_for can swallow it in Python 3.11).
        await self._unbind()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=_API_TIMEOUT)
        # Hand back what was taken and not settled (so another subscriber gets it at once);
        # let the acks/naks already under way go out.
        for msg in await self._deliveries.aclose():
            with contextlib.suppress(Exception):
                await msg.nak()
        if self._sending:
            await asyncio.wait(self._sending, timeout=_API_TIMEOUT)


class JetStreamPubSub:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="pubsub.jetstream")
    Metadata: ClassVar[type[BaseMetadata]] = JetStreamMetadata

    def __init__(self, metadata: JetStreamMetadata, *, context: ComponentContext) -> None:
        self._meta = metadata
        self._log = context.logger
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._streams: dict[str, str] = {}  # subject -> stream holding it
        self._subscriptions: set[_Subscription] = set()

    async def init(self) -> None:
        meta = self._meta
        if meta.jwt is not None or meta.seed_key is not None:
            raise NotSupported("pubsub.jetstream: jwt/seedKey authentication is not supported")
        options: dict[str, Any] = {}
        if meta.token is not None:
            options["token"] = meta.token.get_secret_value()
        if meta.tls_client_cert and meta.tls_client_key:
            context = ssl.create_default_context()
            context.load_cert_chain(meta.tls_client_cert, meta.tls_client_key)
            options["tls"] = context

        async def quiet(exc: Exception) -> None:  # the client logs reconnects on its own
            self._log.debug("pubsub.jetstream connection: %r", exc)

        self._nc = await nats.connect(
            servers=meta.servers,
            name=meta.name,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=_API_TIMEOUT,
            error_cb=quiet,
            **options,
        )
        js_options: dict[str, Any] = {"timeout": _API_TIMEOUT}
        if meta.domain:
            js_options["domain"] = meta.domain
        elif meta.api_prefix:
            js_options["prefix"] = meta.api_prefix
        self._js = self._nc.jetstream(**js_options)

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await nc.close()

    def features(self) -> frozenset[PubSubFeature]:
        return frozenset()

    # ---- streams and consumers ------------------------------------------------------------

    def _context(self) -> JetStreamContext:
        if self._js is None or self._nc is None:
            raise ComponentError("pubsub.jetstream is not initialised or closed")
        return self._js

    def _check(self, topic: str, metadata: Mapping[str, str], *, subscribing: bool) -> None:
        check_topic(topic, subscribing=subscribing, wildcards=False)
        if not _SUBJECT.fullmatch(topic) or topic.startswith(".") or topic.endswith("."):
            raise InvalidRequest(f"invalid topic name {topic!r}: not a NATS subject")
        if "ttlInSeconds" in metadata:
            raise NotSupported("pubsub.jetstream does not support ttlInSeconds")

    async def _stream(self, subject: str) -> str:
        """The stream holding ``subject``, created or extended when none does."""
        known = self._streams.get(subject)
        if known is not None:
            return known
        js = self._context()
        try:
            name = await js.find_stream_name_by_subject(subject)
        except nats.js.errors.NotFoundError:
            name = await self._create_stream(js, subject)
        self._streams[subject] = name
        return name

    async def _create_stream(self, js: JetStreamContext, subject: str) -> str:
        meta = self._meta
        name = meta.stream_name or _name("TANDEM", subject)
        try:
            info = await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            config = api.StreamConfig(
                name=name,
                subjects=[subject],
                storage=api.StorageType.MEMORY
                if meta.stream_storage == "memory"
                else api.StorageType.FILE,
                max_age=meta.stream_max_age or None,
            )
            try:
                await js.add_stream(config)
                self._log.info("pubsub.jetstream created stream %s for %s", name, subject)
                return name
            except nats.js.errors.BadRequestError:
                info = await js.stream_info(name)  # created meanwhile by another sidecar
        subjects = list(info.config.subjects or [])
        if subject not in subjects:
            await js.update_stream(info.config.evolve(subjects=[*subjects, subject]))
            self._log.info("pubsub.jetstream added %s to stream %s", subject, name)
        return name

    def _consumer_config(self, durable: str, topic: str) -> api.ConsumerConfig:
        meta = self._meta
        policy = meta.deliver_policy
        if policy == "all" and meta.start_sequence is not None:
            policy = "sequence"
        start_time = None
        if policy == "time" and meta.start_time is not None:
            start_time = datetime.datetime.fromtimestamp(meta.start_time, tz=datetime.UTC)
        return api.ConsumerConfig(
            name=durable,
            durable_name=durable,
            filter_subject=topic,
            ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=_POLICIES[policy],
            opt_start_seq=meta.start_sequence if policy == "sequence" else None,
            opt_start_time=start_time,
            ack_wait=meta.ack_wait,
            max_deliver=meta.max_deliver,
            backoff=list(meta.back_off) or None,
            max_ack_pending=meta.max_ack_pending,
            num_replicas=meta.replicas,
            mem_storage=meta.memory_storage or None,
        )

    async def _bind(self, topic: str, durable: str) -> JetStreamContext.PullSubscription:
        """A pull subscription on the durable consumer ``durable`` (created when missing)."""
        js = self._context()
        stream = await self._stream(topic)
        try:
            return await js.pull_subscribe(
                topic, durable=durable, stream=stream, config=self._consumer_config(durable, topic)
            )
        except nats.js.errors.NotFoundError:
            self._streams.pop(topic, None)  # the stream went away: make it again
            stream = await self._stream(topic)
            return await js.pull_subscribe(
                topic, durable=durable, stream=stream, config=self._consumer_config(durable, topic)
            )

    # ---- the contract ---------------------------------------------------------------------

    async def publish(
        self,
        topic: str,
        data: bytes,
        *,
        metadata: Mapping[str, str],
        content_type: str = "",
    ) -> None:
        self._check(topic, metadata, subscribing=False)
        js = self._context()
        assert self._nc is not None
        if not self._nc.is_connected:  # fail fast while the client reconnects
            raise ComponentError("pubsub.jetstream: not connected to NATS")
        headers = {_CONTENT_TYPE: content_type} if content_type else None
        try:
            stream = await self._stream(topic)
            try:
                await js.publish(topic, data, timeout=_API_TIMEOUT, stream=stream, headers=headers)
            except nats.errors.NoRespondersError:
                # The stream was deleted behind our back: make it again, once.
                self._streams.pop(topic, None)
                stream = await self._stream(topic)
                await js.publish(topic, data, timeout=_API_TIMEOUT, stream=stream, headers=headers)
        except (nats.errors.Error, *_TRANSIENT) as exc:
            raise ComponentError(f"pubsub.jetstream: publish to {topic!r} failed: {exc}") from exc

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
        self._context()
        group = self._meta.queue_group_name or consumer_group
        durable = _name(self._meta.durable_name or group, topic)
        subscription = _Subscription(self, topic, durable, handler)
        try:
            await subscription.start(concurrency)
        except (nats.errors.Error, *_TRANSIENT) as exc:
            raise ComponentError(f"pubsub.jetstream: subscribe to {topic!r} failed: {exc}") from exc
        self._subscriptions.add(subscription)
        return subscription
