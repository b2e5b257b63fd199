"""Delivering a subscription's messages to a sink (the app channel, or a streaming client).

One ``Delivery`` per active subscription turns each broker message into an ``Ack``:

1. decode: the CloudEvent JSON (or, for a ``rawPayload`` subscription, a synthetic CloudEvent
   with ``data_base64``, as Dapr's ``FromRawPayload``); an undecodable message is dead;
2. an ``expiration`` in the past makes the message dead;
3. routing rules (``pubsub_routing``) pick the path; no match makes it dead;
4. delivery through the ``components.<pubsub>.inbound`` resiliency policies (default: up to 3
   retries, exponential back-off from 500 ms), each attempt one call to the sink. The sink's
   verdict: SUCCESS acks; DROP makes the message dead; RETRY (or a transport failure) is
   retried, and once retries run out the message is dead if a dead-letter topic is set, else
   NACKed so the broker redelivers it later;
5. a dead message goes to the dead-letter topic on the same pub/sub (the original bytes) and is
   acked once that publish succeeded (NACKed if it failed); without a dead-letter topic it is
   acked and dropped, with a warning.

So a message is acknowledged only after SUCCESS, DROP or reaching the dead-letter topic.
Bulk subscriptions go through ``deliver_batch``: entries are routed one by one, grouped by path,
and each entry is settled by its own status with the same rules.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec
from opentelemetry import context as otel_context
from opentelemetry import trace

from components.pubsub import Ack, Message
from runtime.appchannel.base import (
    AppSubscription,
    AppUnavailable,
    BulkEntry,
    BulkTopicEvent,
    DeliveryStatus,
    TopicEvent,
)
from runtime.observability.propagation import (
    cloudevent_parent,
    extract_cloudevent,
    inject_http,
    set_traceparent,
)
from runtime.observability.tracing import get_tracer, tracing_enabled
from runtime.resiliency import Runner
from runtime.resiliency.retry import RetryPolicy
from runtime.services.pubsub_envelope import EVENT_TYPE, SPEC_VERSION
from runtime.services.pubsub_routing import Router

__all__ = ["DEFAULT_INBOUND_RETRY", "Delivery", "Sink", "decode_event"]

log = logging.getLogger("tandem.pubsub")
_decode = msgspec.json.Decoder()

DEFAULT_INBOUND_RETRY = RetryPolicy(
    name="TandemDefaultPubsubInbound", exponential=True, max_interval=5.0, max_retries=3
)


class Sink(Protocol):
    """Where events go: ``AppChannel`` implements it; so does a streaming subscription."""

    async def deliver_event(self, event: TopicEvent) -> DeliveryStatus: ...

    async def deliver_bulk(self, event: BulkTopicEvent) -> dict[str, DeliveryStatus]: ...


class _Retry(Exception):
    """The sink asked for a retry (RETRY, a transport failure, an unhealthy app)."""


def decode_event(message: Message, *, pubsub: str, raw: bool) -> dict[str, Any] | None:
    """The CloudEvent of ``message`` as a JSON object, or None when it is not one."""
    if raw:
        return {
            "id": str(uuid.uuid4()),
            "source": "Dapr",
            "type": EVENT_TYPE,
            "specversion": SPEC_VERSION,
            "datacontenttype": "application/octet-stream",
            "topic": message.topic,
            "pubsubname": pubsub,
            "data_base64": base64.b64encode(message.data).decode("ascii"),
        }
    try:
        event = _decode.decode(message.data)
    except msgspec.DecodeError:
        return None
    return event if isinstance(event, dict) else None


def _expired(event: Mapping[str, Any]) -> bool:
    expiration = event.get("expiration")
    if not isinstance(expiration, str):
        return False
    try:
        when = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when <= datetime.now(UTC)


@dataclass(slots=True)
class Delivery:
    """The delivery pipeline of one active subscription (see the module docstring)."""

    spec: AppSubscription
    sink: Sink
    router: Router
    runner: Runner
    publish_dead_letter: Callable[[str, Message], Awaitable[None]]
    raw: bool = False
    on_outcome: Callable[[str], None] = field(default=lambda _: None)

    async def handle(self, message: Message) -> Ack:
        event = decode_event(message, pubsub=self.spec.pubsub_name, raw=self.raw)
        if event is None:
            return await self._dead(message, "the message is not a CloudEvent JSON object")
        if _expired(event):
            return await self._dead(message, "the message expired")
        path = self.router.path(event)
        if path is None:
            return await self._dead(message, "no routing rule matches the event")
        # The publisher's context (from the CloudEvent) is made current, with a CONSUMER span
        # under it when tracing is on: what goes to the app continues the publisher's trace.
        metadata = dict(message.metadata)
        if tracing_enabled():
            name = f"pubsub/{event.get('topic', '')}"
            with get_tracer().start_as_current_span(
                name, context=extract_cloudevent(event), kind=trace.SpanKind.CONSUMER
            ):
                inject_http(metadata)  # the CONSUMER span's traceparent/tracestate
                return await self._deliver(message, event, path, metadata)
        parent, traceparent = cloudevent_parent(event)
        token = otel_context.attach(parent)
        try:
            if traceparent is not None:
                set_traceparent(metadata, traceparent)
            else:
                inject_http(metadata)
            return await self._deliver(message, event, path, metadata)
        finally:
            otel_context.detach(token)

    async def _deliver(
        self, message: Message, event: dict[str, Any], path: str, metadata: dict[str, str]
    ) -> Ack:
        topic_event = TopicEvent(
            pubsub_name=self.spec.pubsub_name,
            topic=message.topic,
            path=path,
            cloud_event=event,
            metadata=metadata,
            cloud_event_json=None if self.raw else message.data,
        )
        sink, on_outcome = self.sink, self.on_outcome

        async def attempt() -> DeliveryStatus:
            try:
                status = await sink.deliver_event(topic_event)
            except AppUnavailable as exc:
                on_outcome("retry")
                raise _Retry(str(exc)) from exc
            if status is DeliveryStatus.RETRY:
                on_outcome("retry")
                raise _Retry("the app asked for a retry")
            return status

        try:
            status = await self.runner.run(attempt)
        except Exception as exc:
            return await self._exhausted(message, exc)
        if status is DeliveryStatus.DROP:
            on_outcome("drop")
            return await self._dead(message, "the app answered DROP", warn=False)
        on_outcome("success")
        return Ack.ACK

    async def handle_batch(self, messages: Sequence[Message]) -> dict[str, Ack]:
        """Deliver a batch as bulk events (one per matched path); one Ack per message id."""
        acks: dict[str, Ack] = {}
        by_path: dict[str, list[tuple[Message, dict[str, Any]]]] = {}
        for message in messages:
            event = decode_event(message, pubsub=self.spec.pubsub_name, raw=self.raw)
            if event is None or _expired(event):
                acks[message.id] = await self._dead(message, "undecodable or expired")
                continue
            path = self.router.path(event)
            if path is None:
                acks[message.id] = await self._dead(message, "no routing rule matches the event")
                continue
            by_path.setdefault(path, []).append((message, event))
        for path, items in by_path.items():
            statuses = await self._bulk_attempts(path, items)
            for message, _ in items:
                status = statuses.get(message.id, DeliveryStatus.RETRY)
                if status is DeliveryStatus.SUCCESS:
                    self.on_outcome("success")
                    acks[message.id] = Ack.ACK
                elif status is DeliveryStatus.DROP:
                    acks[message.id] = await self._dead(
                        message, "the app answered DROP", warn=False
                    )
                else:
                    acks[message.id] = await self._exhausted(message, _Retry("RETRY"))
        return acks

    async def _bulk_attempts(
        self, path: str, items: list[tuple[Message, dict[str, Any]]]
    ) -> dict[str, DeliveryStatus]:
        """Retry (per the policy) only the entries still asking for it."""
        final: dict[str, DeliveryStatus] = {}
        pending = list(items)

        async def attempt() -> None:
            nonlocal pending
            bulk = BulkTopicEvent(
                id=str(uuid.uuid4()),
                pubsub_name=self.spec.pubsub_name,
                topic=self.spec.topic,
                path=path,
                entries=tuple(
                    BulkEntry(
                        entry_id=m.id,
                        event=e,
                        content_type=str(e.get("datacontenttype", "")),
                        metadata=dict(m.metadata),
                    )
                    for m, e in pending
                ),
            )
            try:
                statuses = await self.sink.deliver_bulk(bulk)
            except AppUnavailable as exc:
                raise _Retry(str(exc)) from exc
            retry = []
            for m, e in pending:
                status = statuses.get(m.id, DeliveryStatus.RETRY)
                final[m.id] = status
                if status is DeliveryStatus.RETRY:
                    retry.append((m, e))
            pending = retry
            if pending:
                raise _Retry(f"{len(pending)} entries asked for a retry")

        try:
            await self.runner.run(attempt)
        except Exception as exc:
            log.debug("bulk delivery on %r ended with retries left: %s", self.spec.topic, exc)
        return final

    async def _exhausted(self, message: Message, exc: BaseException) -> Ack:
        if self.spec.dead_letter_topic:
            return await self._dead(message, f"delivery failed: {exc}")
        log.warning(
            "delivering a message on topic %r failed (%s); the broker will redeliver it",
            message.topic,
            exc,
        )
        return Ack.NACK

    async def _dead(self, message: Message, why: str, *, warn: bool = True) -> Ack:
        topic = self.spec.dead_letter_topic
        if not topic:
            if warn:
                log.warning("dropping a message on topic %r: %s", message.topic, why)
                self.on_outcome("drop")
            return Ack.ACK
        try:
            await self.publish_dead_letter(topic, message)
        except Exception as exc:
            log.warning("dead-letter publish to %r failed (%s); will retry later", topic, exc)
            return Ack.NACK
        log.info("message on topic %r sent to dead-letter topic %r: %s", message.topic, topic, why)
        self.on_outcome("deadletter")
        return Ack.ACK
