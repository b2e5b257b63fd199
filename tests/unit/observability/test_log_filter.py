from __future__ import annotations

import io
import logging

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime.observability.log_filter import TraceContextFilter
from runtime.observability.propagation import extract_http
from runtime.observability.tracing import get_tracer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def make_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(logging.Formatter("%(message)s trace=%(trace_id)s span=%(span_id)s"))
    logger = logging.getLogger("test.correlation")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_ids_inside_a_span(spans: InMemorySpanExporter) -> None:
    logger, stream = make_logger()
    parent = extract_http({"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    with get_tracer().start_as_current_span("op", context=parent) as span:
        logger.info("inside")
    logger.info("outside")
    span_id = format(span.get_span_context().span_id, "016x")
    assert stream.getvalue().splitlines() == [
        f"inside trace={TRACE_ID} span={span_id}",
        "outside trace= span=",
    ]


def test_caller_ids_when_tracing_is_off() -> None:
    logger, stream = make_logger()
    token = otel_context.attach(extract_http({"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}))
    try:
        logger.info("passing through")
    finally:
        otel_context.detach(token)
    assert stream.getvalue() == f"passing through trace={TRACE_ID} span={PARENT_ID}\n"


def test_explicit_values_are_kept() -> None:
    logger, stream = make_logger()
    logger.info("given", extra={"trace_id": "t", "span_id": "s"})
    assert stream.getvalue() == "given trace=t span=s\n"
