"""Spans of an invocation: CLIENT on the caller's sidecar, SERVER on the callee's.

Both follow the sampling decision already made at the API edge (the current span, or the
caller's ``traceparent``): nothing is created while tracing is off or the request is unsampled,
and the headers then pass through unchanged. ``client_span``/``server_span`` cover a block;
``start_client``/``start_server`` (gRPC proxying) start a span that outlives it, never current,
ended with ``end``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from runtime.appchannel.base import Headers
from runtime.observability.grpc_telemetry import CLIENT_CODES, code_value
from runtime.observability.propagation import extract_grpc, extract_http, inject_http
from runtime.observability.tracing import get_tracer, should_trace, tracing_enabled

__all__ = ["client_span", "end", "server_span", "start_client", "start_server", "without_trace"]

Metadata = tuple[tuple[str, str | bytes], ...]

_TRACE = frozenset({"traceparent", "tracestate"})


def without_trace(headers: Headers) -> Headers:
    return tuple((n, v) for n, v in headers if n.lower() not in _TRACE)


def _carrier(context: Context | None = None) -> list[tuple[str, str]]:
    carrier: dict[str, str] = {}
    inject_http(carrier, context)
    return list(carrier.items())


def _without_trace(metadata: Metadata) -> Metadata:
    return tuple((n, v) for n, v in metadata if n.lower() not in _TRACE)


def start_client(
    app_id: str, method: str, metadata: Metadata
) -> tuple[trace.Span | None, Metadata]:
    """A CLIENT span for a call to ``app_id``, child of the current span, and ``metadata``
    with its trace context; (None, ``metadata``) unless the current span records."""
    if not tracing_enabled() or not trace.get_current_span().is_recording():
        return None, metadata
    span = get_tracer().start_span(f"invoke {app_id}/{method}", kind=SpanKind.CLIENT)
    span.set_attribute("rpc.service", app_id)
    span.set_attribute("rpc.method", method)
    context = trace.set_span_in_context(span)
    return span, (*_without_trace(metadata), *_carrier(context))


def start_server(
    app_id: str, method: str, metadata: Metadata
) -> tuple[trace.Span | None, Metadata]:
    """A SERVER span for a call into the local app, child of the ``traceparent`` in
    ``metadata``, and ``metadata`` with its trace context; (None, ``metadata``) when off or
    unsampled."""
    if not tracing_enabled():
        return None, metadata
    parent = extract_grpc(metadata)
    if not should_trace(parent):
        return None, metadata
    span = get_tracer().start_span(f"CallLocal/{app_id}/{method}", parent, kind=SpanKind.SERVER)
    span.set_attribute("rpc.service", app_id)
    span.set_attribute("rpc.method", method)
    context = trace.set_span_in_context(span, parent)
    return span, (*_without_trace(metadata), *_carrier(context))


def end(span: trace.Span, code: str | None) -> None:
    """End a span of ``start_client``/``start_server`` with the call's gRPC status code name
    (None: the call failed before it had one); a server-side failure marks it as an error."""
    if code is not None:
        span.set_attribute("rpc.grpc.status_code", code_value(code))
    if code not in CLIENT_CODES:
        span.set_status(Status(StatusCode.ERROR, code))
    span.end()


@contextmanager
def client_span(app_id: str, method: str) -> Iterator[list[tuple[str, str]]]:
    """A CLIENT span around the call to ``app_id``; yields the trace headers to send."""
    if not tracing_enabled() or not trace.get_current_span().is_recording():
        yield []
        return
    span = get_tracer().start_span(f"invoke {app_id}/{method}", kind=SpanKind.CLIENT)
    span.set_attribute("rpc.service", app_id)
    span.set_attribute("rpc.method", method)
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield _carrier()
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR))
        raise
    finally:
        otel_context.detach(token)
        span.end()


@contextmanager
def server_span(app_id: str, method: str, headers: Headers) -> Iterator[Headers | None]:
    """A SERVER span for a call into the local app; yields the headers to send (with this
    span's ``traceparent``), or None when unchanged."""
    if not tracing_enabled():
        yield None
        return
    parent = extract_http(dict(headers))
    if not should_trace(parent):
        yield None
        return
    span = get_tracer().start_span(f"CallLocal/{app_id}/{method}", parent, kind=SpanKind.SERVER)
    span.set_attribute("rpc.service", app_id)
    span.set_attribute("rpc.method", method)
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    try:
        yield (*without_trace(headers), *_carrier())
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR))
        raise
    finally:
        otel_context.detach(token)
        span.end()
