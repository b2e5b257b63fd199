"""``GrpcTelemetry``: traces, metrics and the API log line for the gRPC API.

The API's one interceptor (``runtime.api.grpc.interceptor``) calls it, as the HTTP edge calls
``HttpTelemetry``: ``start`` before the handler, ``finish`` with the status code the client
gets. With tracing off no span is created; a caller's ``traceparent`` is still attached as the
current context so outgoing calls forward it.
"""

from __future__ import annotations

import logging
from time import perf_counter
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from runtime.observability import API_LOGGER
from runtime.observability.propagation import TRACEPARENT, extract_grpc
from runtime.observability.tracing import get_tracer, should_trace, tracing_enabled

if TYPE_CHECKING:
    from runtime.observability.metrics import Metrics

__all__ = [
    "CLIENT_CODES",
    "PROXIED_GRPC_METHOD",
    "UNKNOWN_GRPC_METHOD",
    "GrpcCall",
    "GrpcTelemetry",
    "code_name",
    "code_value",
]

UNKNOWN_GRPC_METHOD = "unknown"
"""The ``method`` label of calls to methods the server does not implement."""
PROXIED_GRPC_METHOD = "/*"
"""The ``method`` label (and span name) of proxied calls: their paths are the caller's choice."""


class GrpcTelemetry:
    """Per-call telemetry of the gRPC API.

    ``observe_grpc`` per call with its method (``/package.Service/Method``, ``unknown`` or
    ``/*``) and status code name (``OK``, ``NOT_FOUND``, ...; ``CANCELLED`` on cancellation).
    Traced calls (unary ones, and proxied ones) run under a SERVER span named after the method
    label, child of the caller's ``traceparent``; other streaming calls are counted and timed
    (no span). With ``api_logging``, one line per call: method, status, duration, app id; never
    metadata or messages.
    """

    __slots__ = ("_api_logging", "_app_id", "_log", "_metrics")

    def __init__(
        self,
        metrics: Metrics | None,
        *,
        app_id: str,
        api_logging: bool = False,
        logger: logging.Logger | None = None,
    ) -> None:
        self._metrics = metrics
        self._app_id = app_id
        self._api_logging = api_logging
        self._log = logger if logger is not None else logging.getLogger(API_LOGGER)

    def start(
        self, method: str, metadata: Any, *, traced: bool, attributes: tuple[str, str] | None
    ) -> GrpcCall:
        """Begin a call's telemetry under the label ``method``. When ``traced``, its span (when
        sampled) is current, else the caller's context (when it sent one); untraced calls
        (streaming API calls) touch no context. ``attributes``: the span's ``rpc.service`` and
        ``rpc.method``."""
        span: trace.Span | None = None
        token: object = None
        if not traced:
            return GrpcCall(perf_counter(), method, None, None)
        sent = bool(metadata) and any(key == TRACEPARENT for key, _ in metadata)
        if tracing_enabled():
            parent = extract_grpc(metadata) if sent else None
            if should_trace(parent):
                span = get_tracer().start_span(method, context=parent, kind=SpanKind.SERVER)
                if span.is_recording():
                    span.set_attribute("rpc.system", "grpc")
                    if attributes is not None:
                        span.set_attribute("rpc.service", attributes[0])
                        span.set_attribute("rpc.method", attributes[1])
                    span.set_attribute("tandem.app_id", self._app_id)
                token = otel_context.attach(trace.set_span_in_context(span, parent))
            elif parent is not None:
                token = otel_context.attach(parent)
        elif sent:
            token = otel_context.attach(extract_grpc(metadata))
        return GrpcCall(perf_counter(), method, span, token)

    def finish(self, call: GrpcCall, code: str) -> None:
        """End it with the status code name the client gets."""
        duration = perf_counter() - call.start
        self.record(call.method, code, duration)  # inside the call's context: its trace id
        if call.token is not None:
            otel_context.detach(call.token)  # type: ignore[arg-type]
        span = call.span
        if span is not None:
            if span.is_recording():
                span.set_attribute("rpc.grpc.status_code", code_value(code))
                if code not in CLIENT_CODES:
                    span.set_status(Status(StatusCode.ERROR, code))
            span.end()

    def record(self, method: str, code: str, duration: float) -> None:
        """Metrics and the API log line of one call (``unknown`` ones have no ``start``)."""
        if self._metrics is not None:
            self._metrics.observe_grpc(
                method=method, status=code, duration=duration, app_id=self._app_id
            )
        if self._api_logging:
            self._log.info(
                "gRPC API called: %s status=%s duration_ms=%.3f app_id=%s",
                method,
                code,
                duration * 1000.0,
                self._app_id,
                extra={
                    "api_protocol": "grpc",
                    "app_id": self._app_id,
                    "method": method,
                    "status": code,
                    "duration_ms": round(duration * 1000.0, 3),
                },
            )


class GrpcCall:
    """One call's telemetry in progress (see ``GrpcTelemetry``)."""

    __slots__ = ("method", "span", "start", "token")

    def __init__(self, start: float, method: str, span: trace.Span | None, token: object) -> None:
        self.start = start
        self.method = method
        self.span = span
        self.token = token

    def failed(self, exc: BaseException) -> None:
        """An unexpected exception ended the handler: recorded on the span."""
        span = self.span
        if span is not None and span.is_recording():
            span.record_exception(exc, escaped=True)


# Codes that describe the caller's request rather than a server failure: not span errors.
CLIENT_CODES = frozenset(
    {
        "OK",
        "CANCELLED",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "FAILED_PRECONDITION",
        "OUT_OF_RANGE",
        "UNAUTHENTICATED",
        "ABORTED",
    }
)


def code_name(context: Any, default: str) -> str:
    """The name of the status code set on a servicer context, else ``default``."""
    try:
        code = context.code()
    except Exception:  # an older grpcio without ServicerContext.code()
        return default
    if code is None:
        return default
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):  # some grpcio versions hand back the numeric value
        for member in grpc.StatusCode:
            if member.value[0] == code:
                return member.name
    return default


def code_value(name: str) -> int:
    """The numeric value of a status code name (UNKNOWN's for a name that is none)."""
    member = grpc.StatusCode.__members__.get(name)
    return member.value[0] if member is not None else 2
