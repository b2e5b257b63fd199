"""Spans of an invocation: CLIENT on the caller's sidecar, SERVER on the callee's.

Both follow the sampling decision already made at the API edge (the current span, or the
caller's ``traceparent``): nothing is created while tracing is off or the request is unsampled,
and the headers then pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from runtime.appchannel.base import Headers
from runtime.observability.propagation import extract_http, inject_http
from runtime.observability.tracing import get_tracer, should_trace, tracing_enabled

__all__ = ["client_span", "server_span", "without_trace"]

_TRACE = frozenset({"traceparent", "tracestate"})


def without_trace(headers: Headers) -> Headers:
    return tuple((n, v) for n, v in headers if n.lower() not in _TRACE)


def _carrier() -> list[tuple[str, str]]:
    carrier: dict[str, str] = {}
    inject_http(carrier)
    return list(carrier.items())


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
