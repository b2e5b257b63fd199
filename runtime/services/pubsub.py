"""PubSubService: publishing, for HTTP and gRPC alike (delivery: ``pubsub_delivery``).

Callers pass the pub/sub name, topic, body, content type and request metadata; the service
checks them in Dapr's order (pubsub configured, name, known, topic), parses ``rawPayload`` and
``ttlInSeconds``, wraps the body in the CloudEvent envelope (``pubsub_envelope``) unless
``rawPayload`` is set, and hands it to the component through the ``components.<name>.outbound``
resiliency policies. A component declaring ``MESSAGE_TTL`` receives ``ttlInSeconds``; for the
others the envelope carries ``expiration`` instead (raw payloads then have no TTL, as in Dapr).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from opentelemetry import trace

from components.pubsub import BulkMessage, BulkPublisher, PubSub, PubSubFeature
from runtime import errors
from runtime.compstore import PUBSUB, ComponentStore, LiveComponent
from runtime.observability import NOOP_OBSERVER, Observer
from runtime.observability.tracing import get_tracer, tracing_enabled
from runtime.services.pubsub_envelope import (
    CLOUDEVENT_CONTENT_TYPE,
    EnvelopeError,
    build_envelope,
)
from runtime.services.pubsub_errors import PubSubErrors
from runtime.services.pubsub_scopes import TopicScopes

if TYPE_CHECKING:
    from runtime.resiliency import Resiliency, Runner

__all__ = ["BulkPublishEntry", "FailedEntry", "PubSubService", "parse_bool"]

T = TypeVar("T")
RAW_PAYLOAD = "rawPayload"
TTL = "ttlInSeconds"
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_EMPTY: Mapping[str, str] = {}


def _traced() -> bool:
    """Whether a publish gets a PRODUCER span: tracing is on and the request is recorded."""
    return tracing_enabled() and trace.get_current_span().is_recording()


@contextlib.contextmanager
def _producer_span(topic: str) -> Iterator[None]:
    """A PRODUCER span around one publish: the envelope built inside it carries its
    ``traceparent``, so the subscriber's CONSUMER span joins the trace."""
    with get_tracer().start_as_current_span(f"pubsub/{topic}", kind=trace.SpanKind.PRODUCER):
        yield


def parse_bool(value: str) -> bool:
    """Go's ``strconv.ParseBool`` (what Dapr uses for ``rawPayload``); raises ValueError."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"invalid boolean {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkPublishEntry:
    entry_id: str
    event: bytes
    content_type: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class FailedEntry:
    entry_id: str
    error: str


@dataclass(frozen=True, slots=True)
class _Prepared:
    data: bytes
    content_type: str
    metadata: Mapping[str, str]


class PubSubService:
    def __init__(
        self,
        components: ComponentStore,
        *,
        app_id: str,
        observer: Observer = NOOP_OBSERVER,
        resiliency: Resiliency | None = None,
    ) -> None:
        self._components = components
        self._app_id = app_id
        self._observer = observer
        self._resiliency = resiliency
        self._runners: dict[tuple[str, str], Runner | None] = {}
        self._scopes: dict[str, TopicScopes] = {}

    # ---- lookup ---------------------------------------------------------------------------

    def live(self, name: str, topic: str | None = None) -> LiveComponent[PubSub]:
        """The component, checked in Dapr's order; ``topic`` (when given) must not be empty."""
        if not self._components.has_block(PUBSUB):
            raise PubSubErrors.NOT_CONFIGURED()
        if not name:
            raise PubSubErrors.NAME_EMPTY()
        live = self._components.pubsub(name)
        if live is None:
            raise PubSubErrors.NOT_FOUND(
                name=name, resource=name, metadata={"appID": self._app_id, "pubsubName": name}
            )
        if topic is not None and not topic:
            raise PubSubErrors.TOPIC_EMPTY(
                name=name, resource=name, metadata={"appID": self._app_id, "pubsubName": name}
            )
        return live

    def scopes(self, live: LiveComponent[PubSub]) -> TopicScopes:
        scopes = self._scopes.get(live.name)
        if scopes is None:
            scopes = self._scopes[live.name] = TopicScopes.from_metadata(live.runtime_metadata)
        return scopes

    def check_publish(self, live: LiveComponent[PubSub], topic: str) -> None:
        """Raises ERR_PUBSUB_FORBIDDEN when the component's scoping forbids the topic."""
        if not self.scopes(live).may_publish(self._app_id, topic):
            raise PubSubErrors.FORBIDDEN(
                topic=topic,
                app_id=self._app_id,
                resource=live.name,
                metadata=self._details(live.name, topic),
            )

    @property
    def observer(self) -> Observer:
        return self._observer

    def names(self) -> list[str]:
        return self._components.names(PUBSUB)

    def runner(self, name: str, direction: str = "outbound") -> Runner | None:
        """The component's ``components.<name>.<direction>`` resiliency policies, or None."""
        if self._resiliency is None:
            return None
        key = (direction, name)
        try:
            return self._runners[key]
        except KeyError:
            make = (
                self._resiliency.component_outbound
                if direction == "outbound"
                else self._resiliency.component_inbound
            )
            runner = self._runners[key] = make(name, PUBSUB)
            return runner

    async def call(self, name: str, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        """One component call: through the outbound policies, each attempt observed."""

        runner = self.runner(name)
        if runner is None:
            async with self._observer.component_call(PUBSUB, name, op):
                return await fn()

        async def observed() -> T:
            async with self._observer.component_call(PUBSUB, name, op):
                return await fn()

        return await runner.run(observed)

    # ---- publishing -----------------------------------------------------------------------

    def _details(self, name: str, topic: str) -> dict[str, str]:
        return {"appID": self._app_id, "pubsubName": name, "topic": topic}

    def _prepare(
        self,
        live: LiveComponent[PubSub],
        topic: str,
        data: bytes,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> _Prepared:
        """The bytes, content type and metadata to publish. Raises the 400s."""
        name = live.name
        try:
            raw = parse_bool(metadata[RAW_PAYLOAD]) if RAW_PAYLOAD in metadata else False
            ttl = int(metadata[TTL]) if TTL in metadata else None
            if ttl is not None and ttl < 0:
                raise ValueError(f"{TTL} must not be negative, got {ttl}")
        except ValueError as exc:
            raise PubSubErrors.REQUEST_METADATA(
                detail=exc, resource=name, metadata=self._details(name, topic)
            ) from None
        native_ttl = ttl is not None and PubSubFeature.MESSAGE_TTL in live.instance.features()
        if ttl is not None and not native_ttl:
            metadata = {k: v for k, v in metadata.items() if k != TTL}
        if raw:
            return _Prepared(data, content_type, metadata)
        expiration = None
        if ttl is not None and not native_ttl:
            expiration = datetime.now(UTC) + timedelta(seconds=ttl)
        try:
            envelope = build_envelope(
                data,
                content_type=content_type,
                topic=topic,
                pubsub=name,
                source=self._app_id,
                metadata=metadata,
                expiration=expiration,
            )
        except EnvelopeError as exc:
            raise PubSubErrors.CLOUD_EVENT(
                topic=topic,
                name=name,
                detail=exc,
                resource=name,
                metadata=self._details(name, topic),
            ) from None
        return _Prepared(envelope, CLOUDEVENT_CONTENT_TYPE, metadata)

    def _publish_error(self, name: str, topic: str, exc: BaseException) -> errors.APIError:
        return PubSubErrors.PUBLISH_MESSAGE(
            topic=topic,
            name=name,
            detail=str(exc) or type(exc).__name__,
            resource=name,
            metadata=self._details(name, topic),
        )

    async def publish(
        self,
        name: str,
        topic: str,
        data: bytes,
        *,
        content_type: str = "",
        metadata: Mapping[str, str] = _EMPTY,
    ) -> None:
        live = self.live(name, topic)
        self.check_publish(live, topic)
        if not _traced():  # the hot path: no span, no context manager
            await self._publish(live, topic, data, content_type, metadata)
            return
        with _producer_span(topic):
            await self._publish(live, topic, data, content_type, metadata)

    async def _publish(
        self,
        live: LiveComponent[PubSub],
        topic: str,
        data: bytes,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> None:
        name = live.name
        msg = self._prepare(live, topic, data, content_type, metadata)
        pubsub = live.instance
        try:
            await self.call(
                name,
                "publish",
                lambda: pubsub.publish(
                    topic, msg.data, metadata=msg.metadata, content_type=msg.content_type
                ),
            )
        except errors.APIError:
            self._observer.pubsub_published(name, topic, success=False)
            raise
        except Exception as exc:
            self._observer.pubsub_published(name, topic, success=False)
            raise self._publish_error(name, topic, exc) from exc
        self._observer.pubsub_published(name, topic, success=True)

    async def bulk_publish(
        self,
        name: str,
        topic: str,
        entries: Sequence[BulkPublishEntry],
        *,
        metadata: Mapping[str, str] = _EMPTY,
    ) -> list[FailedEntry]:
        """Publish every entry; the ones that failed, with their error (empty: all published).

        Entry ids must be present and unique, and every entry must make a valid envelope, or
        nothing is published. Not atomic otherwise: each entry succeeds or fails on its own.
        """
        live = self.live(name, topic)
        self.check_publish(live, topic)
        seen: set[str] = set()
        for entry in entries:
            problem = (
                "an entry has an empty entryId"
                if not entry.entry_id
                else f"duplicate entryId {entry.entry_id!r}"
                if entry.entry_id in seen
                else ""
            )
            if problem:
                raise PubSubErrors.EVENTS_SER(
                    topic=topic,
                    name=name,
                    detail=problem,
                    resource=name,
                    metadata=self._details(name, topic),
                )
            seen.add(entry.entry_id)
        prepared = [
            (
                e.entry_id,
                self._prepare(live, topic, e.event, e.content_type, {**metadata, **e.metadata}),
            )
            for e in entries
        ]
        if not prepared:
            return []
        pubsub = live.instance
        if isinstance(pubsub, BulkPublisher):
            bulk = [
                BulkMessage(
                    entry_id=i, data=p.data, content_type=p.content_type, metadata=p.metadata
                )
                for i, p in prepared
            ]
            try:
                failed = await self.call(
                    name,
                    "bulk_publish",
                    lambda: pubsub.bulk_publish(topic, bulk, metadata=metadata),
                )
            except Exception as exc:
                error = str(self._publish_error(name, topic, exc))
                failed = {i: exc for i, _ in prepared}
                self._count(name, topic, len(prepared), failed)
                return [FailedEntry(i, error) for i, _ in prepared]
            self._count(name, topic, len(prepared), failed)
            return [FailedEntry(i, str(e)) for i, e in failed.items()]

        async def one(p: _Prepared) -> BaseException | None:
            try:
                await self.call(
                    name,
                    "publish",
                    lambda: pubsub.publish(
                        topic, p.data, metadata=p.metadata, content_type=p.content_type
                    ),
                )
            except Exception as exc:
                return exc
            return None

        outcomes = await asyncio.gather(*(one(p) for _, p in prepared))
        self._count(name, topic, len(prepared), [e for e in outcomes if e is not None])
        return [
            FailedEntry(i, str(self._publish_error(name, topic, exc)))
            for (i, _), exc in zip(prepared, outcomes, strict=True)
            if exc is not None
        ]

    def _count(self, name: str, topic: str, total: int, failed: Sized) -> None:
        for _ in range(total - len(failed)):
            self._observer.pubsub_published(name, topic, success=True)
        for _ in range(len(failed)):
            self._observer.pubsub_published(name, topic, success=False)
