"""Active subscriptions: opening them on the components and keeping them in step with the app.

Three kinds, all listed in the metadata API:

- DECLARATIVE (Subscription resources) and PROGRAMMATIC (the app's ``/dapr/subscribe`` or
  ``ListTopicSubscriptions``) deliver through the app channel. They open once the app is
  ready (port open, health checks passing), close while health checks fail (messages in flight
  stay unacknowledged, so the broker keeps them) and reopen when the app recovers;
- STREAMING subscriptions (gRPC ``SubscribeTopicEventsAlpha1``) deliver to their stream and
  need no app.

The consumer group is the subscription's ``consumerID`` metadata, else the component's, else the
app id (``{appID}``, ``{namespace}``, ``{uuid}`` and ``{podName}`` are expanded). At most
``concurrency`` deliveries per subscription run at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from components.pubsub import Ack, BulkSubscriber, Message, Subscription
from runtime.appchannel.base import AppChannel, AppChannelError, AppSubscription
from runtime.resiliency import Runner
from runtime.services.metadata import SubscriptionInfo
from runtime.services.pubsub import PubSubService
from runtime.services.pubsub_delivery import DEFAULT_INBOUND_RETRY, Delivery, Sink
from runtime.services.pubsub_errors import PubSubErrors
from runtime.services.pubsub_routing import compile_rules
from runtime.status import RuntimeStatus

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ActiveSubscription",
    "SubscriptionManager",
    "SubscriptionType",
    "info",
]

log = logging.getLogger("tandem.pubsub")

DEFAULT_CONCURRENCY = 16
DEFAULT_BULK_COUNT = 100  # Dapr's maxMessagesCount default
DEFAULT_BULK_AWAIT_MS = 1000  # Dapr's maxAwaitDurationMs default
_LIST_RETRIES = (0.5, 1.0, 2.0)


class SubscriptionType(StrEnum):
    DECLARATIVE = "DECLARATIVE"
    PROGRAMMATIC = "PROGRAMMATIC"
    STREAMING = "STREAMING"


@dataclass(slots=True, eq=False)
class ActiveSubscription:
    spec: AppSubscription
    type: SubscriptionType
    consumer_group: str
    handle: Subscription | None = None

    async def aclose(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            await handle.aclose()


class _Batcher:
    """Dapr's default bulk subscriber over a plain subscription: gathers up to ``size``
    messages or waits ``wait`` seconds, then hands the batch over; each caller gets its Ack."""

    def __init__(
        self,
        deliver: Callable[[Sequence[Message]], Awaitable[dict[str, Ack]]],
        size: int,
        wait: float,
    ) -> None:
        self._deliver = deliver
        self._size = size
        self._wait = wait
        self._pending: list[tuple[Message, asyncio.Future[Ack]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, message: Message) -> Ack:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((message, future))
        if len(self._pending) >= self._size:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._wait, self._flush)
        ack: Ack = await future
        return ack

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Message, asyncio.Future[Ack]]]) -> None:
        live = [(m, f) for m, f in batch if not f.done()]
        try:
            acks = await self._deliver([m for m, _ in live])
        except Exception:
            log.exception("bulk delivery failed")
            acks = {}
        for message, future in live:
            if not future.done():
                future.set_result(acks.get(message.id, Ack.NACK))


def _expand(template: str, *, app_id: str, namespace: str) -> str:
    return (
        template.replace("{appID}", app_id)
        .replace("{namespace}", namespace)
        .replace("{podName}", os.environ.get("POD_NAME", socket.gethostname()))
        .replace("{uuid}", str(uuid.uuid4()))
    )


class SubscriptionManager:
    def __init__(
        self,
        service: PubSubService,
        *,
        app_id: str,
        namespace: str = "default",
        status: RuntimeStatus,
        declarative: Sequence[AppSubscription] = (),
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._service = service
        self._app_id = app_id
        self._namespace = namespace
        self._status = status
        self._declarative = tuple(declarative)
        self._concurrency = concurrency
        self._app: list[ActiveSubscription] = []
        self._streams: list[ActiveSubscription] = []
        self._inbound: dict[str, Runner] = {}

    def active(self) -> list[ActiveSubscription]:
        """Every subscription, for the metadata API (app ones only while open)."""
        return [*self._app, *self._streams]

    # ---- opening ----------------------------------------------------------------------------

    def _runner(self, pubsub: str) -> Runner:
        runner = self._service.runner(pubsub, "inbound")
        if runner is not None:
            return runner
        default = self._inbound.get(pubsub)
        if default is None:
            target = f"components.{pubsub}.inbound"
            default = self._inbound[pubsub] = Runner(target, retry=DEFAULT_INBOUND_RETRY)
        return default

    def _consumer_group(self, spec: AppSubscription) -> str:
        live = self._service.live(spec.pubsub_name)
        template = (
            spec.metadata.get("consumerID")
            or live.runtime_metadata.get("consumerid")
            or self._app_id
        )
        return _expand(template, app_id=self._app_id, namespace=self._namespace)

    async def open(
        self, spec: AppSubscription, kind: SubscriptionType, sink: Sink
    ) -> ActiveSubscription:
        """Subscribe on the component; raises APIError (unknown pubsub), ValueError (a bad
        routing rule) or the component's error."""
        live = self._service.live(spec.pubsub_name, spec.topic)
        if not self._service.scopes(live).may_subscribe(self._app_id, spec.topic):
            raise PubSubErrors.FORBIDDEN(
                topic=spec.topic, app_id=self._app_id, resource=spec.pubsub_name
            )
        router = compile_rules(spec.rules)
        active = ActiveSubscription(spec, kind, self._consumer_group(spec))
        raw = spec.metadata.get("rawPayload", "").lower() == "true"
        observer = self._service.observer

        async def dead_letter(topic: str, message: Message) -> None:
            await self._service.call(
                spec.pubsub_name,
                "publish",
                lambda: live.instance.publish(
                    topic,
                    message.data,
                    metadata=dict(message.metadata),
                    content_type=message.content_type,
                ),
            )

        delivery = Delivery(
            spec=spec,
            sink=sink,
            router=router,
            runner=self._runner(spec.pubsub_name),
            publish_dead_letter=dead_letter,
            raw=raw,
            on_outcome=lambda outcome: observer.pubsub_delivery(
                spec.pubsub_name, spec.topic, outcome
            ),
        )
        pubsub = live.instance
        bulk = spec.bulk_subscribe
        metadata = dict(spec.metadata)
        if bulk is not None and bulk.enabled:
            size = bulk.max_messages_count or DEFAULT_BULK_COUNT
            wait_ms = bulk.max_await_duration_ms or DEFAULT_BULK_AWAIT_MS
            if isinstance(pubsub, BulkSubscriber):
                active.handle = await pubsub.bulk_subscribe(
                    spec.topic,
                    delivery.handle_batch,
                    consumer_group=active.consumer_group,
                    metadata=metadata,
                    max_messages=size,
                    max_await_ms=wait_ms,
                )
            else:
                active.handle = await pubsub.subscribe(
                    spec.topic,
                    _Batcher(delivery.handle_batch, size, wait_ms / 1000),
                    consumer_group=active.consumer_group,
                    metadata=metadata,
                    concurrency=size,
                )
        else:
            active.handle = await pubsub.subscribe(
                spec.topic,
                delivery.handle,
                consumer_group=active.consumer_group,
                metadata=metadata,
                concurrency=self._concurrency,
            )
        return active

    async def open_stream(self, spec: AppSubscription, sink: Sink) -> ActiveSubscription:
        active = await self.open(spec, SubscriptionType.STREAMING, sink)
        self._streams.append(active)
        return active

    async def close_stream(self, active: ActiveSubscription) -> None:
        with contextlib.suppress(ValueError):
            self._streams.remove(active)
        await active.aclose()

    # ---- the app's subscriptions ------------------------------------------------------------

    async def _programmatic(self, channel: AppChannel) -> list[AppSubscription]:
        for wait in (*_LIST_RETRIES, None):
            try:
                return await channel.list_subscriptions()
            except AppChannelError as exc:
                if wait is None:
                    log.warning("could not read the app's subscriptions: %s", exc)
                    return []
                log.warning("reading the app's subscriptions failed (%s); retrying", exc)
                await asyncio.sleep(wait)
        return []

    async def _open_app(
        self, specs: list[tuple[AppSubscription, SubscriptionType]], sink: Sink
    ) -> None:
        for spec, kind in specs:
            try:
                self._app.append(await self.open(spec, kind, sink))
            except Exception as exc:
                log.warning(
                    "cannot subscribe to topic %r on pubsub %r: %s",
                    spec.topic,
                    spec.pubsub_name,
                    exc,
                )
        if self._app:
            log.info(
                "subscribed to %s",
                ", ".join(f"{a.spec.pubsub_name}/{a.spec.topic}" for a in self._app),
            )

    async def _close_app(self) -> None:
        opened, self._app = self._app, []
        for active in opened:
            await active.aclose()

    async def _app_readiness(self, ready: bool) -> None:
        while self._status.app_ready is not ready:
            await self._status.app_ready_changed.wait()

    async def run(self, channel: AppChannel | None) -> None:
        """Until cancelled: keep the app's subscriptions open while the app is ready."""
        if channel is None:
            if self._declarative:
                log.warning("declarative subscriptions need an app port; none is set")
            return
        try:
            specs: list[tuple[AppSubscription, SubscriptionType]] | None = None
            while True:
                await self._app_readiness(True)
                if specs is None:
                    programmatic = await self._programmatic(channel)
                    specs = [(s, SubscriptionType.DECLARATIVE) for s in self._declarative]
                    specs += [(s, SubscriptionType.PROGRAMMATIC) for s in programmatic]
                await self._open_app(specs, channel)
                await self._app_readiness(False)
                log.info("app unhealthy: pausing %d subscriptions", len(self._app))
                await self._close_app()
        finally:
            await self._close_app()

    async def aclose(self) -> None:
        await self._close_app()
        streams, self._streams = self._streams, []
        for active in streams:
            await active.aclose()


def info(active: ActiveSubscription) -> SubscriptionInfo:
    """How the metadata API shows a subscription."""
    spec = active.spec
    return SubscriptionInfo(
        pubsub_name=spec.pubsub_name,
        topic=spec.topic,
        type=active.type.value,
        rules=tuple((r.match, r.path) for r in spec.rules),
        metadata=dict(spec.metadata),
        dead_letter_topic=spec.dead_letter_topic,
    )
