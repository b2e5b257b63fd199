"""The process-wide tracer and its provider.

``setup_tracing`` installs a tracer provider for a ``TracingSettings`` (parsed by
``runtime.observability.tracing_settings``) and returns a ``TracingHandle`` whose ``shutdown``
(or ``aclose``) flushes with a deadline.

Everything that records spans asks ``tracing_enabled()`` first and creates no span at all when it
is false, so a sidecar without tracing pays one function call per request. ``get_tracer()`` always
returns a usable tracer (a no-op one while tracing is off).

The OpenTelemetry SDK is imported only by ``setup_tracing`` when tracing is on, and an OTLP
exporter only when an endpoint is configured. Export runs on the SDK's batch thread: spans go into
a bounded queue (dropped when full), so a slow or absent collector never delays a request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from random import random as _random
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context

from runtime.observability.tracing_settings import TracingSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    from runtime.observability._sdk import GuardedExporter

__all__ = [
    "TRACER_NAME",
    "TracingHandle",
    "get_tracer",
    "setup_tracing",
    "should_trace",
    "tracing_enabled",
]

TRACER_NAME = "tandem"
_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Process-wide tracer

_NOOP_TRACER: trace.Tracer = trace.NoOpTracer()


class _State:
    __slots__ = ("active", "enabled", "rate", "tracer")

    def __init__(self) -> None:
        self.tracer: trace.Tracer = _NOOP_TRACER
        self.enabled = False
        self.rate = 0.0
        self.active: TracingHandle | None = None

    def install(self, handle: TracingHandle | None, tracer: trace.Tracer) -> None:
        self.active, self.tracer, self.enabled = handle, tracer, handle is not None
        self.rate = handle.settings.sampling_rate if handle is not None else 0.0


_state = _State()


def get_tracer() -> trace.Tracer:
    """The ``tandem`` tracer; a no-op tracer while tracing is off."""
    return _state.tracer


def tracing_enabled() -> bool:
    """Whether spans should be created at all. Check before building span names/attributes."""
    return _state.enabled


def should_trace(parent: Context | None) -> bool:
    """The sampling decision for a request entering the sidecar, made once at the API edge.

    A caller's valid ``traceparent`` decides (its sampled flag, as ParentBased sampling does);
    otherwise the request is sampled at the configured rate. Deciding here, before any span
    exists, lets an unsampled request skip span work entirely.
    """
    if parent is not None:
        span_context = trace.get_current_span(parent).get_span_context()
        if span_context.is_valid:
            return bool(span_context.trace_flags.sampled)
    rate = _state.rate
    return rate >= 1.0 or (rate > 0.0 and _random() < rate)


class TracingHandle:
    """The installed provider. ``shutdown`` flushes queued spans, waiting at most ``grace``."""

    def __init__(
        self,
        settings: TracingSettings,
        provider: TracerProvider | None = None,
        exporters: Sequence[GuardedExporter] = (),
    ) -> None:
        self.settings = settings
        self._provider = provider
        self._exporters = tuple(exporters)
        self._closed = False

    @property
    def enabled(self) -> bool:
        return self._provider is not None

    @property
    def provider(self) -> TracerProvider | None:
        """The SDK provider (None when tracing is off), e.g. to add a span processor."""
        return self._provider

    def force_flush(self, grace: float = 5.0) -> bool:
        """Export queued spans now; True when done within ``grace`` seconds. Blocking."""
        provider = self._provider
        if provider is None or self._closed:
            return True
        return _run_with_deadline(provider.force_flush, grace)

    def shutdown(self, grace: float = 5.0) -> bool:
        """Stop tracing, flush, close exporters. Blocks at most about ``grace`` seconds.

        Returns True when every queued span was handed to the exporter in time. When the
        deadline passes, pending exports are abandoned (their retries are interrupted).
        Idempotent. From async code use ``await handle.aclose()``.
        """
        if self._closed:
            return True
        self._closed = True
        if _state.active is self:
            _state.install(None, _NOOP_TRACER)
        provider = self._provider
        if provider is None:
            return True
        done = _run_with_deadline(provider.shutdown, grace)
        if not done:
            for exporter in self._exporters:
                exporter.abort()
        return done

    async def aclose(self, grace: float = 5.0) -> bool:
        """``shutdown`` without blocking the event loop."""
        return await asyncio.to_thread(self.shutdown, grace)


def _run_with_deadline(fn: Any, timeout: float) -> bool:
    finished = threading.Event()

    def run() -> None:
        try:
            fn()
        except Exception:
            _log.exception("tracing flush failed")
        finally:
            finished.set()

    threading.Thread(target=run, name="tandem-tracing-flush", daemon=True).start()
    return finished.wait(max(timeout, 0.0))


def setup_tracing(
    settings: TracingSettings,
    *,
    service_name: str,
    service_version: str,
    extra_span_processors: Sequence[SpanProcessor] = (),
) -> TracingHandle:
    """Install the tracer for ``settings`` and return its handle (a no-op handle when off).

    ``service_name`` is the app id (what Dapr reports as ``service.name``).
    ``extra_span_processors`` are added as given (tests use an in-memory exporter); they also
    turn tracing on when ``sampling_rate`` > 0 even without an exporter.
    Calling this again replaces the active tracer; shut the previous handle down yourself.
    """
    has_sink = settings.enabled or (settings.sampling_rate > 0.0 and bool(extra_span_processors))
    if not has_sink:
        _state.install(None, _NOOP_TRACER)
        return TracingHandle(settings)

    from runtime.observability import _sdk  # the SDK loads only when tracing is on

    provider, exporters = _sdk.build_provider(
        settings,
        service_name=service_name,
        service_version=service_version,
        extra_span_processors=extra_span_processors,
    )
    handle = TracingHandle(settings, provider, exporters)
    _state.install(handle, provider.get_tracer(TRACER_NAME, service_version))
    return handle
