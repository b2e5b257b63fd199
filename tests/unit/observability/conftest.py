from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime.observability import tracing
from runtime.observability.tracing import setup_tracing
from runtime.observability.tracing_settings import TracingSettings
from tests.otlp_receiver import otlp_receiver

__all__ = ["otlp_receiver"]  # the fixture, for the tests in this folder


@pytest.fixture(autouse=True)
def _tracing_reset() -> Iterator[None]:
    """Every test starts and ends with tracing off."""
    tracing.setup_tracing(TracingSettings(), service_name="t", service_version="0")
    yield
    active = tracing._state.active
    if active is not None:
        active.shutdown(grace=5.0)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on (sample everything), finished spans collected synchronously in memory."""
    exporter = InMemorySpanExporter()
    handle = setup_tracing(
        TracingSettings(sampling_rate=1.0),
        service_name="test-app",
        service_version="0.0.0",
        extra_span_processors=[SimpleSpanProcessor(exporter)],
    )
    yield exporter
    handle.shutdown(grace=5.0)
