"""``TelemetryObserver``: the ``Observer`` the services get. Around each component call it
records a CLIENT span ``"{block}/{operation}"`` (only inside a sampled request) and the
component metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from runtime.observability.observer import Observer
from runtime.observability.tracing import get_tracer, tracing_enabled

if TYPE_CHECKING:
    from runtime.observability.metrics import Metrics

__all__ = ["TelemetryObserver"]

_MAX_CACHED = 4096  # labelled series remembered; beyond that (many topics) looked up each time


class TelemetryObserver(Observer):
    """Span ``"{block}/{operation}"`` and metrics around each component call.

    ``metrics`` may be None (metrics disabled). ``component_types`` maps component name to its
    type (``statestore`` -> ``state.redis``) and may be updated in place on hot reload; when a
    name is found, spans also get ``tandem.component.type`` and ``db.system`` (``redis``).
    """

    def __init__(
        self, metrics: Metrics | None, *, component_types: Mapping[str, str] | None = None
    ) -> None:
        self.metrics = metrics
        self.component_types: Mapping[str, str] = (
            component_types if component_types is not None else {}
        )
        # the pub/sub counters' labelled series by (kind, component, topic, outcome)
        self._counters: dict[tuple[str, ...], tuple[Any, ...]] = {}
        self._counters_of: Metrics | None = None  # the Metrics they belong to

    def component_call(self, block: str, component: str, operation: str) -> _ComponentCall:
        return _ComponentCall(self, block, component, operation)

    def pubsub_published(self, component: str, topic: str, *, success: bool) -> None:
        m = self.metrics
        if m is None:
            return
        key = ("published", component, topic, "true" if success else "false")
        counters = self._counters.get(key) if self._counters_of is m else None
        if counters is None:
            counters = self._counters_for(
                m, key, (m.pubsub_published.labels(m.app_id, component, topic, key[3]),)
            )
        for counter in counters:
            counter.inc()

    def pubsub_delivery(self, component: str, topic: str, outcome: str) -> None:
        m = self.metrics
        if m is None:
            return
        key = ("delivery", component, topic, outcome)
        counters = self._counters.get(key) if self._counters_of is m else None
        if counters is None:
            labels = (m.app_id, component, topic)
            if outcome == "retry":
                found: tuple[Any, ...] = (m.pubsub_retries.labels(*labels),)
            elif outcome == "deadletter":
                found = (m.pubsub_deadletter.labels(*labels),)
            elif outcome == "drop":
                found = (
                    m.pubsub_delivered.labels(*labels, outcome),
                    m.pubsub_dropped.labels(*labels),
                )
            else:
                found = (m.pubsub_delivered.labels(*labels, outcome),)
            counters = self._counters_for(m, key, found)
        for counter in counters:
            counter.inc()

    def _counters_for(
        self, metrics: Metrics, key: tuple[str, ...], counters: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        """Remember the labelled series of ``key`` (a label lookup costs more than the count)."""
        if self._counters_of is not metrics:
            self._counters = {}
            self._counters_of = metrics
        if len(self._counters) < _MAX_CACHED:
            self._counters[key] = counters
        return counters


class _ComponentCall:
    __slots__ = ("_block", "_component", "_observer", "_operation", "_span", "_start", "_token")

    def __init__(self, observer: TelemetryObserver, block: str, component: str, op: str) -> None:
        self._observer = observer
        self._block = block
        self._component = component
        self._operation = op
        self._span: trace.Span | None = None
        self._token: object = None
        self._start = 0.0

    async def __aenter__(self) -> None:
        # a child of an unsampled (or absent) request span would never be sampled: skip it
        if tracing_enabled() and trace.get_current_span().is_recording():
            span = get_tracer().start_span(f"{self._block}/{self._operation}", kind=SpanKind.CLIENT)
            if span.is_recording():
                span.set_attribute("tandem.component", self._component)
                span.set_attribute("tandem.block", self._block)
                span.set_attribute("tandem.operation", self._operation)
                kind = self._observer.component_types.get(self._component)
                if kind:
                    span.set_attribute("tandem.component.type", kind)
                    family, _, system = kind.partition(".")
                    if family == "state" and system:
                        span.set_attribute("db.system", system)
            self._span = span
            self._token = otel_context.attach(trace.set_span_in_context(span))
        self._start = perf_counter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duration = perf_counter() - self._start
        span = self._span
        if span is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            if exc is not None and span.is_recording():
                if isinstance(exc, asyncio.CancelledError):
                    span.set_attribute("tandem.cancelled", True)
                else:
                    span.record_exception(exc, escaped=True)
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
        metrics = self._observer.metrics
        if metrics is not None:
            metrics.observe_component(
                component=self._component,
                block=self._block,
                operation=self._operation,
                success=exc is None,
                duration=duration,
            )
