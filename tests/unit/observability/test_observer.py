from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime.observability import NOOP_OBSERVER, Observer
from runtime.observability.component_telemetry import TelemetryObserver
from runtime.observability.metrics import Metrics
from runtime.observability.tracing import get_tracer


def operations(metrics: Metrics, success: str) -> float:
    value = metrics.registry.get_sample_value(
        "tandem_component_operations_total",
        {
            "app_id": "orders",
            "component": "statestore",
            "block": "state",
            "operation": "get",
            "success": success,
        },
    )
    return value or 0.0


async def test_noop_observer_is_a_reusable_async_context_manager() -> None:
    call = NOOP_OBSERVER.component_call("state", "s", "get")
    async with call, NOOP_OBSERVER.component_call("state", "s", "set"):
        pass
    async with call:  # the same object again
        pass
    with pytest.raises(KeyError):
        async with Observer().component_call("state", "s", "get"):
            raise KeyError("x")


async def test_metrics_without_tracing() -> None:
    metrics = Metrics("orders")
    observer = TelemetryObserver(metrics)
    async with observer.component_call("state", "statestore", "get"):
        assert not trace.get_current_span().get_span_context().is_valid  # no span created
    with pytest.raises(ValueError, match="backend"):
        async with observer.component_call("state", "statestore", "get"):
            raise ValueError("backend down")
    assert operations(metrics, "true") == 1
    assert operations(metrics, "false") == 1
    latency = metrics.registry.get_sample_value(
        "tandem_component_latency_seconds_count",
        {"app_id": "orders", "component": "statestore", "block": "state", "operation": "get"},
    )
    assert latency == 2


async def test_child_span_of_the_current_span(spans: InMemorySpanExporter) -> None:
    observer = TelemetryObserver(None, component_types={"statestore": "state.redis"})
    with get_tracer().start_as_current_span("GET /v1.0/state/{storeName}/{key}") as parent:
        async with observer.component_call("state", "statestore", "get"):
            inner = trace.get_current_span()
        assert trace.get_current_span() is parent  # restored after the block
    child, api = spans.get_finished_spans()
    assert child.name == "state/get"
    assert child.kind == trace.SpanKind.CLIENT
    assert inner.get_span_context().span_id == child.context.span_id
    assert child.parent is not None
    assert child.parent.span_id == api.context.span_id
    assert child.context.trace_id == api.context.trace_id
    assert child.attributes == {
        "tandem.component": "statestore",
        "tandem.block": "state",
        "tandem.operation": "get",
        "tandem.component.type": "state.redis",
        "db.system": "redis",
    }


async def test_failure_marks_span_and_reraises(spans: InMemorySpanExporter) -> None:
    metrics = Metrics("orders")
    observer = TelemetryObserver(metrics)
    with (
        get_tracer().start_as_current_span("api"),
        pytest.raises(ConnectionError),
    ):
        async with observer.component_call("state", "statestore", "get"):
            raise ConnectionError("refused")
    span, _api = spans.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR
    assert span.status.description == "ConnectionError"
    assert [e.name for e in span.events] == ["exception"]
    assert operations(metrics, "false") == 1


async def test_cancellation_is_a_failure_but_not_a_span_error(
    spans: InMemorySpanExporter,
) -> None:
    metrics = Metrics("orders")
    observer = TelemetryObserver(metrics)
    entered = asyncio.Event()

    async def call() -> None:
        with get_tracer().start_as_current_span("api"):
            async with observer.component_call("state", "statestore", "get"):
                entered.set()
                await asyncio.Event().wait()

    task = asyncio.create_task(call())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span, _api = spans.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["tandem.cancelled"] is True
    assert operations(metrics, "false") == 1


async def test_concurrent_calls_keep_their_own_parents(spans: InMemorySpanExporter) -> None:
    observer = TelemetryObserver(None)

    async def request(name: str) -> None:
        with get_tracer().start_as_current_span(name):
            async with observer.component_call("state", "statestore", name):
                await asyncio.sleep(0)

    await asyncio.gather(*(request(f"r{i}") for i in range(5)))
    finished = spans.get_finished_spans()
    parents = {s.context.span_id: s.name for s in finished if s.parent is None}
    for span in finished:
        if span.parent is not None:
            assert parents[span.parent.span_id] == span.name.split("/")[1]


async def test_no_component_span_without_a_recording_request_span(
    spans: InMemorySpanExporter,
) -> None:
    """A child of an unsampled (or absent) request span would never be sampled: none is made,
    while metrics are still recorded."""
    metrics = Metrics("orders")
    observer = TelemetryObserver(metrics)
    async with observer.component_call("state", "statestore", "get"):
        assert not trace.get_current_span().is_recording()
    unsampled = trace.NonRecordingSpan(
        trace.SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=trace.TraceFlags(0))
    )
    with trace.use_span(unsampled):
        async with observer.component_call("state", "statestore", "get"):
            assert trace.get_current_span() is unsampled
    assert spans.get_finished_spans() == ()
    assert operations(metrics, "true") == 2


def test_pubsub_counters_by_outcome_and_for_a_new_registry() -> None:
    first = Metrics("orders")
    observer = TelemetryObserver(first)
    for outcome in ("success", "success", "drop", "retry", "deadletter"):
        observer.pubsub_delivery("pubsub", "orders", outcome)
    observer.pubsub_published("pubsub", "orders", success=True)
    observer.pubsub_published("pubsub", "orders", success=False)
    labels = {"app_id": "orders", "component": "pubsub", "topic": "orders"}

    def value(metrics: Metrics, name: str, **extra: str) -> float | None:
        return metrics.registry.get_sample_value(name, {**labels, **extra})

    assert value(first, "tandem_pubsub_delivered_total", status="success") == 2
    assert value(first, "tandem_pubsub_delivered_total", status="drop") == 1
    assert value(first, "tandem_pubsub_dropped_total") == 1
    assert value(first, "tandem_pubsub_retries_total") == 1
    assert value(first, "tandem_pubsub_deadletter_total") == 1
    assert value(first, "tandem_pubsub_published_total", success="true") == 1
    assert value(first, "tandem_pubsub_published_total", success="false") == 1
    second = Metrics("orders")
    observer.metrics = second  # the series of the new registry are counted, not the old ones
    observer.pubsub_delivery("pubsub", "orders", "success")
    assert value(second, "tandem_pubsub_delivered_total", status="success") == 1
    assert value(first, "tandem_pubsub_delivered_total", status="success") == 2
