"""The OpenTelemetry SDK side of ``setup_tracing``; imported only when tracing is on.

OTLP exporter modules are imported only for the configured protocol.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

if TYPE_CHECKING:
    from runtime.observability.tracing_settings import TracingSettings

__all__ = ["MAX_BATCH", "MAX_QUEUE", "SCHEDULE_DELAY_MS", "GuardedExporter", "build_provider"]

# Memory is capped at MAX_QUEUE spans per exporter; when the queue is full new spans are dropped
# (the SDK's deque discards the oldest), never waited for.
MAX_QUEUE = 2048
MAX_BATCH = 512
SCHEDULE_DELAY_MS = 1000

_log = logging.getLogger("runtime.observability.tracing")


def build_provider(
    settings: TracingSettings,
    *,
    service_name: str,
    service_version: str,
    extra_span_processors: Sequence[SpanProcessor],
) -> tuple[TracerProvider, list[GuardedExporter]]:
    _quiet_export_logs()
    resource = Resource.create({"service.name": service_name, "service.version": service_version})
    provider = TracerProvider(
        # Root spans are sampled at the API edge (tracing.should_trace), so an unsampled
        # request creates no span at all; the SDK follows that decision and the caller's flag.
        sampler=ParentBased(root=ALWAYS_ON),
        resource=resource,
        shutdown_on_exit=False,  # the lifecycle shuts down with a deadline; atexit could hang
    )
    exporters: list[GuardedExporter] = []
    if settings.otlp_endpoint is not None:
        exporters.append(GuardedExporter(otlp_exporter(settings)))
    if settings.stdout:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # sys.stdout as it is now: the SDK's default is bound when its module is imported
        exporters.append(
            GuardedExporter(ConsoleSpanExporter(service_name=service_name, out=sys.stdout))
        )
    for exporter in exporters:
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=MAX_QUEUE,
                schedule_delay_millis=SCHEDULE_DELAY_MS,
                max_export_batch_size=MAX_BATCH,
                export_timeout_millis=settings.otlp_timeout * 1000.0,
            )
        )
    for processor in extra_span_processors:
        provider.add_span_processor(processor)
    return provider, exporters


def otlp_exporter(settings: TracingSettings) -> SpanExporter:
    headers = dict(settings.otlp_headers) or None
    try:
        if settings.otlp_protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            return GrpcExporter(
                endpoint=settings.otlp_endpoint,
                insecure=settings.otlp_insecure,
                headers=headers,
                timeout=settings.otlp_timeout,
            )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter(
            endpoint=settings.otlp_endpoint, headers=headers, timeout=settings.otlp_timeout
        )
    except ImportError as exc:
        raise RuntimeError(
            f"OTLP/{settings.otlp_protocol} trace export needs the exporter packages:"
            " pip install 'tandem[otlp]'"
        ) from exc


class GuardedExporter(SpanExporter):
    """Wraps an exporter: idempotent shutdown, and ``abort`` to cut off retries at a deadline."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._stopped = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopped:
            return SpanExportResult.FAILURE
        return self.inner.export(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.abort()

    def abort(self) -> None:
        """Stop exporting; an export in progress stops retrying and returns."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            self.inner.shutdown()
        except Exception:
            _log.debug("trace exporter shutdown failed", exc_info=True)


class _RateLimit(logging.Filter):
    """Lets each message template through once per ``interval`` seconds.

    With the collector down, the SDK logs a line per dropped span and per failed batch; one line
    per template per interval tells the operator without flooding the sidecar's log.
    """

    def __init__(self, interval: float) -> None:
        super().__init__()
        self._interval = interval
        self._last: dict[Any, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        last = self._last.get(record.msg)
        if last is not None and now - last < self._interval:
            return False
        if len(self._last) > 256:
            self._last.clear()
        self._last[record.msg] = now
        return True


_QUIET_LOGGERS = (
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
)


def _quiet_export_logs() -> None:
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RateLimit) for f in logger.filters):
            logger.addFilter(_RateLimit(30.0))
