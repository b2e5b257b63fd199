"""setup_tracing against a real OTLP receiver, and against a collector that is down."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

from runtime.observability import tracing
from runtime.observability.component_telemetry import TelemetryObserver
from runtime.observability.propagation import extract_http
from runtime.observability.tracing import (
    get_tracer,
    setup_tracing,
    should_trace,
    tracing_enabled,
)
from runtime.observability.tracing_settings import TracingSettings
from tests.otlp_receiver import OtlpReceiver

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_off_by_default_uses_noop_tracer() -> None:
    handle = setup_tracing(TracingSettings(), service_name="a", service_version="1")
    assert not tracing_enabled()
    assert not handle.enabled
    assert isinstance(get_tracer(), trace.NoOpTracer)
    assert handle.shutdown() is True


def test_sdk_not_loaded_when_tracing_off() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from runtime.observability.tracing import setup_tracing\n"
        "from runtime.observability.tracing_settings import TracingSettings\n"
        "import runtime.observability.component_telemetry\n"
        "import runtime.observability.http_telemetry\n"
        "import runtime.observability.grpc_telemetry\n"
        "import runtime.observability.log_filter\n"
        "setup_tracing(TracingSettings(), service_name='a', service_version='1')\n"
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.sdk',"
        " 'opentelemetry.exporter', 'prometheus_client'))]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_exports_server_span_and_child_over_grpc(otlp_receiver: OtlpReceiver) -> None:
    settings = TracingSettings(sampling_rate=1.0, otlp_endpoint=otlp_receiver.grpc_endpoint)
    handle = setup_tracing(settings, service_name="orders", service_version="9.9.9")
    assert tracing_enabled()

    parent = extract_http({"traceparent": TRACEPARENT})
    span = get_tracer().start_span(
        "GET /v1.0/state/{storeName}/{key}", context=parent, kind=trace.SpanKind.SERVER
    )
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    try:
        async with TelemetryObserver(None).component_call("state", "statestore", "get"):
            pass
    finally:
        otel_context.detach(token)
        span.end()

    assert await handle.aclose(grace=10.0)
    received = await otlp_receiver.wait_for_spans(count=2)
    by_name = {s.name: s for s in received}
    api = by_name["GET /v1.0/state/{storeName}/{key}"]
    child = by_name["state/get"]
    assert api.trace_id == TRACE_ID
    assert api.parent_span_id == PARENT_ID
    assert api.kind == 2  # SERVER
    assert child.trace_id == TRACE_ID
    assert child.parent_span_id == api.span_id
    assert child.attributes["tandem.component"] == "statestore"
    assert api.resource["service.name"] == "orders"
    assert api.resource["service.version"] == "9.9.9"
    assert api.scope == "tandem"
    assert not tracing_enabled()


async def test_exports_over_http(otlp_receiver: OtlpReceiver) -> None:
    settings = TracingSettings.from_config(
        {
            "samplingRate": "1",
            "otel": {"endpointAddress": f"127.0.0.1:{otlp_receiver.http_port}", "protocol": "http"},
        },
        {},
    )
    assert settings.otlp_endpoint == otlp_receiver.http_endpoint
    handle = setup_tracing(settings, service_name="orders", service_version="1")
    with get_tracer().start_as_current_span("over-http"):
        pass
    assert await handle.aclose(grace=10.0)
    (span,) = await otlp_receiver.wait_for_spans(lambda s: s.name == "over-http")
    assert span.transport == "http"


async def test_unsampled_parent_is_not_exported(otlp_receiver: OtlpReceiver) -> None:
    settings = TracingSettings(sampling_rate=1.0, otlp_endpoint=otlp_receiver.grpc_endpoint)
    handle = setup_tracing(settings, service_name="a", service_version="1")
    parent = extract_http({"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})
    get_tracer().start_span("not-sampled", context=parent).end()
    with get_tracer().start_as_current_span("sampled"):
        pass
    assert await handle.aclose(grace=10.0)
    await otlp_receiver.wait_for_spans(lambda s: s.name == "sampled")
    assert [s.name for s in otlp_receiver.spans] == ["sampled"]


def test_root_sampling_is_decided_at_the_edge_by_rate_and_caller_flag() -> None:
    handle = setup_tracing(
        TracingSettings(sampling_rate=0.01, otlp_endpoint=f"127.0.0.1:{closed_port()}"),
        service_name="a",
        service_version="1",
    )
    try:
        sampled = sum(should_trace(None) for _ in range(20000))
        assert 100 <= sampled <= 320  # 1% of 20,000 = 200, well inside these bounds
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        yes = extract_http({"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
        no = extract_http({"traceparent": f"00-{trace_id}-00f067aa0ba902b7-00"})
        assert all(should_trace(yes) for _ in range(100))  # the caller's decision wins
        assert not any(should_trace(no) for _ in range(100))
        invalid = extract_http({"traceparent": "garbage"})
        assert sum(should_trace(invalid) for _ in range(20000)) <= 320  # treated as a root
    finally:
        handle.shutdown(grace=2.0)


def test_a_span_started_after_the_edge_decision_is_sampled() -> None:
    handle = setup_tracing(
        TracingSettings(sampling_rate=0.0001, otlp_endpoint=f"127.0.0.1:{closed_port()}"),
        service_name="a",
        service_version="1",
    )
    try:
        span = get_tracer().start_span("root")  # the edge decided to trace this request
        assert span.get_span_context().trace_flags.sampled
        span.end()
    finally:
        handle.shutdown(grace=2.0)


async def test_collector_down_never_blocks_requests() -> None:
    settings = TracingSettings(
        sampling_rate=1.0, otlp_endpoint=f"127.0.0.1:{closed_port()}", otlp_timeout=5.0
    )
    handle = setup_tracing(settings, service_name="a", service_version="1")
    tracer = get_tracer()
    parent = extract_http({"traceparent": TRACEPARENT})

    # Outcome, not speed: every request completes although every export fails. Were span
    # ends waiting on the exporter (5 s export timeout, retried), 2,000 of them would take
    # hours; the deadline only catches such a hang.
    done = 0
    async with asyncio.timeout(60):
        for i in range(2000):
            with tracer.start_as_current_span("GET /v1.0/state/{storeName}/{key}", context=parent):
                async with TelemetryObserver(None).component_call("state", "s", "get"):
                    done += 1
            if i % 200 == 0:
                await asyncio.sleep(0)  # let the loop breathe as a server would
    assert done == 2000

    # shutdown ends although every export fails and would retry for 5 s
    async with asyncio.timeout(60):
        await handle.aclose(grace=1.0)


def test_stdout_exporter(capsys: pytest.CaptureFixture[str]) -> None:
    handle = setup_tracing(
        TracingSettings(sampling_rate=1.0, stdout=True), service_name="a", service_version="1"
    )
    with get_tracer().start_as_current_span("to-stdout"):
        pass
    assert handle.shutdown(grace=5.0)
    assert "to-stdout" in capsys.readouterr().out


def test_setup_replaces_and_shutdown_of_old_handle_keeps_new() -> None:
    first = setup_tracing(
        TracingSettings(sampling_rate=1.0, stdout=True), service_name="a", service_version="1"
    )
    second = setup_tracing(
        TracingSettings(sampling_rate=1.0, stdout=True), service_name="a", service_version="1"
    )
    assert first.shutdown(grace=2.0)
    assert tracing_enabled()  # the second handle is still active
    assert tracing._state.active is second
    assert second.shutdown(grace=2.0)
    assert not tracing_enabled()
    assert second.shutdown() is True  # idempotent


def test_threaded_receiver_for_synchronous_tests() -> None:
    from tests.otlp_receiver import ThreadedOtlpReceiver

    with ThreadedOtlpReceiver() as receiver:
        settings = TracingSettings.from_config(
            None, {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{receiver.grpc_endpoint}"}
        )
        handle = setup_tracing(settings, service_name="sync", service_version="1")
        with get_tracer().start_as_current_span("sync-span"):
            pass
        assert handle.shutdown(grace=10.0)
        (span,) = receiver.wait_for_spans(lambda s: s.name == "sync-span")
        assert span.resource["service.name"] == "sync"
