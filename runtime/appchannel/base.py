"""The app channel contract: how the sidecar calls its app, in domain types.

One ``AppChannel`` per sidecar, over HTTP (``http``/``https``/``h2c``) or gRPC (``grpc``/``grpcs``,
the app's ``AppCallback`` service). Every call into the app:

- fails fast with ``AppUnavailable`` while app health checks are on and the app is unhealthy
  (Dapr answers "app is not in a healthy state" without calling the app);
- waits for a slot when ``--app-max-concurrency`` is set (the slot is held until a streamed
  response is closed);
- carries ``dapr-api-token: $APP_API_TOKEN`` when that variable is set.

``invoke`` is a plain awaitable so a resiliency policy can wrap it; cancelling it releases the
slot and the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self

from runtime.status import RuntimeStatus

__all__ = [
    "API_TOKEN_HEADER",
    "AppChannel",
    "AppChannelError",
    "AppSubscription",
    "AppUnavailable",
    "Body",
    "BodyTooLarge",
    "BulkEntry",
    "BulkSubscribe",
    "BulkTopicEvent",
    "CallGate",
    "DeliveryStatus",
    "Headers",
    "InvalidInvokeRequest",
    "InvokeRequest",
    "InvokeResponse",
    "TopicEvent",
    "TopicRule",
]

API_TOKEN_HEADER = "dapr-api-token"  # noqa: S105 (a header name)
Headers = tuple[tuple[str, str], ...]
Body = bytes | AsyncIterable[bytes]


class AppChannelError(Exception):
    """The app could not be called (connection refused, reset, protocol error)."""


class AppUnavailable(AppChannelError):
    """Health checks say the app is unhealthy; nothing was sent."""

    def __init__(self) -> None:
        super().__init__("app is not in a healthy state")


class BodyTooLarge(ValueError):
    """A body to be held in memory is larger than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")
        self.limit = limit


class InvalidInvokeRequest(ValueError):
    """The request cannot be sent over this channel (e.g. no HTTP verb for an HTTP app)."""


class DeliveryStatus(StrEnum):
    """The app's verdict on an event, as Dapr defines it."""

    SUCCESS = "SUCCESS"  # acknowledge
    RETRY = "RETRY"  # redeliver (resiliency policy or broker)
    DROP = "DROP"  # do not redeliver; dead-letter topic if configured


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokeRequest:
    """A method call into the app.

    ``method`` is the raw path after the app's base URL (percent-encoding kept; a leading
    ``/`` is optional). ``verb`` is None for gRPC-to-gRPC calls without an HTTP extension.
    ``headers`` are forwarded as HTTP headers or gRPC metadata (hop-by-hop ones and any
    incoming ``dapr-api-token`` are dropped). ``body`` may be an async iterable (streamed to
    HTTP apps; gathered for gRPC apps, whose OnInvoke is unary).
    """

    method: str
    verb: str | None = "POST"
    headers: Headers = ()
    query: str = ""
    body: Body = b""
    content_type: str = ""
    data_type_url: str = ""  # gRPC callers: the google.protobuf.Any type of the body


class InvokeResponse:
    """The app's answer. ``status`` is an HTTP status (gRPC apps: the mapped gRPC code, with
    ``grpc_status`` the code itself). The body streams: iterate it or ``read()`` it, and close
    the response (``async with`` or ``aclose()``) to free the connection and the slot."""

    __slots__ = (
        "_body",
        "_closed",
        "_on_close",
        "content_type",
        "data_type_url",
        "grpc_status",
        "headers",
        "status",
    )

    def __init__(
        self,
        *,
        status: int,
        headers: Headers = (),
        content_type: str = "",
        body: Body = b"",
        grpc_status: int = 0,
        data_type_url: str = "",
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content_type = content_type
        self.grpc_status = grpc_status
        self.data_type_url = data_type_url
        self._body = body
        self._on_close = on_close
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if isinstance(self._body, bytes):
                if self._body:
                    yield self._body
            else:
                async for chunk in self._body:
                    if chunk:
                        yield chunk
        finally:
            await self.aclose()

    @property
    def complete_body(self) -> bytes | None:
        """The whole body when it is already in memory (no streaming needed), else None."""
        return self._body if isinstance(self._body, bytes) else None

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body (and the response is closed); BodyTooLarge, once more than ``limit``
        bytes arrived, with the response closed and nothing more read."""
        if limit is None:
            return b"".join([chunk async for chunk in self])
        parts: list[bytes] = []
        size = 0
        async with self:
            async for chunk in self:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(limit)
                parts.append(chunk)
        return b"".join(parts)

    async def aclose(self) -> None:
        """Idempotent: release the connection and the concurrency slot."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            await self._on_close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.aclose()


@dataclass(frozen=True, slots=True)
class TopicRule:
    """Events matching the CEL expression ``match`` go to ``path``; empty match = catch-all."""

    match: str
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkSubscribe:
    enabled: bool = False
    max_messages_count: int = 0
    max_await_duration_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AppSubscription:
    """A subscription the app declared. ``rules`` are tried in order; the default route (or
    the legacy single ``route``) is the last rule, with an empty match."""

    pubsub_name: str
    topic: str
    rules: tuple[TopicRule, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)
    dead_letter_topic: str = ""
    bulk_subscribe: BulkSubscribe | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicEvent:
    """One event for the app. ``cloud_event`` is the CloudEvent envelope as a JSON object
    (``data`` or ``data_base64`` inside); ``metadata`` is the broker's message metadata, sent as
    HTTP headers or gRPC metadata; ``path`` is the matched route. ``cloud_event_json``, when
    set, is the JSON text ``cloud_event`` was decoded from: sent as it is, not encoded again."""

    pubsub_name: str
    topic: str
    path: str
    cloud_event: Mapping[str, Any]
    metadata: Mapping[str, str] = field(default_factory=dict)
    cloud_event_json: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkEntry:
    """One entry of a bulk delivery: a CloudEvent envelope, or raw bytes (rawPayload)."""

    entry_id: str
    event: Mapping[str, Any] | bytes
    content_type: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkTopicEvent:
    id: str
    pubsub_name: str
    topic: str
    path: str
    entries: tuple[BulkEntry, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)
    type: str = "com.dapr.event.sent.bulk"


class AppChannel(Protocol):
    """The sidecar's client to its app. Implementations: ``HttpAppChannel``, ``GrpcAppChannel``."""

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        """Call a method; raises AppUnavailable, AppChannelError, InvalidInvokeRequest."""
        ...

    async def list_subscriptions(self) -> list[AppSubscription]:
        """The app's programmatic subscriptions (none if the app has no such endpoint);
        raises AppChannelError when the app answers with an error."""
        ...

    async def deliver_event(self, event: TopicEvent) -> DeliveryStatus:
        """Deliver one event; transport failures are RETRY. Raises AppUnavailable."""
        ...

    async def deliver_bulk(self, event: BulkTopicEvent) -> dict[str, DeliveryStatus]:
        """Deliver a batch; every entry id gets a status (missing ones are RETRY)."""
        ...

    async def health(self) -> bool:
        """One health probe (not gated, not counted against max concurrency)."""
        ...

    async def aclose(self) -> None:
        """Close connections; idempotent."""
        ...


class CallGate:
    """The health gate and the ``--app-max-concurrency`` semaphore shared by every call."""

    def __init__(
        self, *, status: RuntimeStatus, health_checked: bool, max_concurrency: int
    ) -> None:
        self._status = status
        self._health_checked = health_checked
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency > 0 else None

    async def acquire(self) -> Callable[[], None]:
        """Wait for a slot; returns its (idempotent) release. Raises AppUnavailable."""
        if self._health_checked and not self._status.app_ready:
            raise AppUnavailable
        slots = self._slots
        if slots is None:
            return _noop
        await slots.acquire()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                slots.release()

        return release

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        release = await self.acquire()
        try:
            yield
        finally:
            release()


def _noop() -> None:
    return None
