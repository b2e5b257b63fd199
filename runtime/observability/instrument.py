"""Where the servers and services meet tracing, metrics and logs: the integration surface.

* ``http_middleware(...)``: the aiohttp middleware for the HTTP API. Put it FIRST in
  ``web.Application(middlewares=[...])`` (outermost), so the span covers the other middlewares
  and the status recorded is the one the client gets. It also works further in: an
  ``HTTPException`` is recorded with its status, any other exception as 500, then re-raised.
* ``GrpcTelemetryInterceptor(...)``: pass in ``grpc.aio.server(interceptors=[...])``.
* ``TelemetryObserver(...)``: the ``Observer`` to give to the services.
* ``TraceContextFilter()``: add to the log HANDLER(s) so every record has ``trace_id`` and
  ``span_id`` (empty strings outside a trace) for the formatter.

With tracing off (``tracing_enabled()`` false) no span is created anywhere; a caller's
``traceparent`` is still attached as the current context so outgoing calls forward it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from runtime.observability.observer import Observer
from runtime.observability.propagation import (
    TRACEPARENT,
    extract_grpc,
    extract_http,
    inject_http,
)
from runtime.observability.tracing import get_tracer, should_trace, tracing_enabled

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler, Middleware

    from runtime.observability.metrics import Metrics

__all__ = [
    "HEALTH_PREFIX",
    "UNKNOWN_GRPC_METHOD",
    "UNMATCHED_ROUTE",
    "GrpcTelemetryInterceptor",
    "TelemetryObserver",
    "TraceContextFilter",
    "http_middleware",
]

UNMATCHED_ROUTE = "unmatched"
"""The ``path`` label of requests that matched no route (404/405 from the router)."""
UNKNOWN_GRPC_METHOD = "unknown"
"""The ``method`` label of calls to methods the server does not implement."""
HEALTH_PREFIX = "/v1.0/healthz"
CLIENT_CLOSED = 499
"""Status recorded when the client went away and the handler was cancelled."""

_API_LOGGER = "tandem.api"


# --------------------------------------------------------------------------------------------
# Component calls


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

    def component_call(self, block: str, component: str, operation: str) -> _ComponentCall:
        return _ComponentCall(self, block, component, operation)


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


# --------------------------------------------------------------------------------------------
# HTTP API


def _route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


def http_middleware(
    metrics: Metrics | None,
    *,
    app_id: str,
    api_logging: bool = False,
    logger: logging.Logger | None = None,
    omit_health_checks: bool = True,
) -> Middleware:
    """The HTTP API telemetry middleware (see the module docstring for its position).

    Per request: extracts the caller's W3C context, runs the handler under a SERVER span
    ``"{METHOD} {route template}"``, records ``observe_http`` with the route template (or
    ``unmatched``), sets ``traceparent`` on the response when it has none (as daprd does) and,
    with ``api_logging``, logs one line: method, route template, status, duration, app id. It
    never logs bodies, header values or query strings. ``omit_health_checks`` leaves
    ``/v1.0/healthz*`` out of tracing and API logging (metrics still count them).
    """
    log = logger if logger is not None else logging.getLogger(_API_LOGGER)

    @web.middleware
    async def telemetry_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = perf_counter()
        route = _route_template(request)
        method = request.method
        quiet = omit_health_checks and route.startswith(HEALTH_PREFIX)
        span: trace.Span | None = None
        token: object = None
        if tracing_enabled() and not quiet:
            parent = extract_http(request.headers) if TRACEPARENT in request.headers else None
            if should_trace(parent):
                span, token = _start_http_span(method, route, app_id, parent)
            elif parent is not None:
                token = otel_context.attach(parent)
        elif TRACEPARENT in request.headers:
            token = otel_context.attach(extract_http(request.headers))

        status = 500
        try:
            response = await handler(request)
            status = response.status
            if span is not None:
                _set_trace_headers(response)
            return response
        except web.HTTPException as exc:
            status = exc.status
            if span is not None:
                _set_trace_headers(exc)
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        except Exception as exc:
            if span is not None and span.is_recording():
                span.record_exception(exc, escaped=True)
            raise
        finally:
            duration = perf_counter() - start
            if api_logging and not quiet:  # inside the request's context: carries its trace id
                _log_http_call(log, method, route, status, duration, app_id=app_id)
            if token is not None:
                otel_context.detach(token)  # type: ignore[arg-type]
            if span is not None:
                _end_http_span(span, status)
            if metrics is not None:
                metrics.observe_http(
                    method=method, path=route, status=status, duration=duration, app_id=app_id
                )

    return telemetry_middleware


def _start_http_span(
    method: str, route: str, app_id: str, parent: Context | None
) -> tuple[trace.Span, object]:
    name = method if route == UNMATCHED_ROUTE else f"{method} {route}"
    span = get_tracer().start_span(name, context=parent, kind=SpanKind.SERVER)
    if span.is_recording():
        span.set_attribute("http.request.method", method)
        span.set_attribute("http.route", route)
        span.set_attribute("tandem.app_id", app_id)
    return span, otel_context.attach(trace.set_span_in_context(span, parent))


def _end_http_span(span: trace.Span, status: int) -> None:
    if span.is_recording():
        span.set_attribute("http.response.status_code", status)
        if status >= 500 and status != CLIENT_CLOSED:  # 4xx are the caller's: not span errors
            span.set_status(Status(StatusCode.ERROR))
    span.end()


def _log_http_call(
    log: logging.Logger, method: str, route: str, status: int, duration: float, *, app_id: str
) -> None:
    log.info(
        "HTTP API called: %s %s status=%d duration_ms=%.3f app_id=%s",
        method,
        route,
        status,
        duration * 1000.0,
        app_id,
        extra={
            "api_protocol": "http",
            "app_id": app_id,
            "method": method,
            "path": route,
            "status": status,
            "duration_ms": round(duration * 1000.0, 3),
        },
    )


def _set_trace_headers(response: web.StreamResponse) -> None:
    """Tell the caller the trace id, unless the handler set ``traceparent`` itself."""
    if not response.prepared and TRACEPARENT not in response.headers:
        inject_http(response.headers)


# --------------------------------------------------------------------------------------------
# gRPC API

Behavior = Callable[..., Any]


class GrpcTelemetryInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Server interceptor: a SERVER span ``"/package.Service/Method"`` and ``observe_grpc`` per
    unary call; streaming calls are counted and timed (no span). Status labels are code names
    (``OK``, ``NOT_FOUND``, ...) taken from the context after the handler, an abort, or the
    exception (``UNKNOWN``; ``CANCELLED`` on cancellation).
    """

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
        self._log = logger if logger is not None else logging.getLogger(_API_LOGGER)
        # method -> (handler from the continuation, wrapped handler): built once per method
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}  # type: ignore[type-arg]

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None:  # grpc answers UNIMPLEMENTED; never label by an arbitrary name
            self._record(UNKNOWN_GRPC_METHOD, "UNIMPLEMENTED", 0.0)
            return None
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(method, handler)
        if len(self._wrapped) < 4096:
            self._wrapped[method] = (handler, wrapped)
        return wrapped

    # -- recording

    def _record(self, method: str, code: str, duration: float) -> None:
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

    # -- wrapping

    def _wrap(self, method: str, handler: Any) -> Any:
        """A handler of the same kind whose behavior records; the handler itself when it is not
        async (grpc runs sync handlers in its thread pool: leave those alone)."""
        if handler.unary_unary is not None:
            inner, factory = handler.unary_unary, grpc.unary_unary_rpc_method_handler
            behavior = self._unary(method, inner) if inspect.iscoroutinefunction(inner) else None
        else:
            inner, factory = next(
                (
                    (getattr(handler, kind), make)
                    for kind, make in _STREAMING_KINDS
                    if getattr(handler, kind) is not None
                ),
                (None, grpc.stream_stream_rpc_method_handler),
            )
            behavior = None if inner is None else self._streaming(method, inner)
        if behavior is None:
            return handler
        return factory(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _unary(self, method: str, inner: Behavior) -> Behavior:
        service, _, rpc_method = method.lstrip("/").rpartition("/")
        record = self._record
        app_id = self._app_id

        async def behavior(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            start = perf_counter()
            span: trace.Span | None = None
            token: object = None
            metadata = context.invocation_metadata()
            traced = tracing_enabled()
            parent = (
                extract_grpc(metadata)
                if traced and metadata and any(key == TRACEPARENT for key, _ in metadata)
                else None
            )
            if traced and should_trace(parent):
                span = get_tracer().start_span(method, context=parent, kind=SpanKind.SERVER)
                if span.is_recording():
                    span.set_attribute("rpc.system", "grpc")
                    span.set_attribute("rpc.service", service)
                    span.set_attribute("rpc.method", rpc_method)
                    span.set_attribute("tandem.app_id", app_id)
                token = otel_context.attach(trace.set_span_in_context(span, parent))
            elif parent is not None:
                token = otel_context.attach(parent)
            elif not traced and metadata and any(key == TRACEPARENT for key, _ in metadata):
                token = otel_context.attach(extract_grpc(metadata))

            code = "UNKNOWN"
            try:
                response = await inner(request, context)
                code = _code_name(context, "OK")
                return response
            except grpc.aio.AbortError:
                code = _code_name(context, "UNKNOWN")
                raise
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except Exception as exc:
                code = _code_name(context, "UNKNOWN")
                if span is not None and span.is_recording():
                    span.record_exception(exc, escaped=True)
                raise
            finally:
                duration = perf_counter() - start
                record(method, code, duration)  # inside the call's context: logs carry its ids
                if token is not None:
                    otel_context.detach(token)  # type: ignore[arg-type]
                if span is not None:
                    if span.is_recording():
                        span.set_attribute("rpc.grpc.status_code", _code_value(code))
                        if code not in _CLIENT_CODES:
                            span.set_status(Status(StatusCode.ERROR, code))
                    span.end()

        return behavior

    def _streaming(self, method: str, inner: Behavior) -> Behavior | None:
        record = self._record

        if inspect.isasyncgenfunction(inner):

            async def generator(request: Any, context: Any) -> AsyncIterator[Any]:
                start = perf_counter()
                code = "UNKNOWN"
                try:
                    async with aclosing(inner(request, context)) as responses:
                        async for item in responses:
                            yield item
                    code = _code_name(context, "OK")
                except (asyncio.CancelledError, GeneratorExit):
                    code = "CANCELLED"
                    raise
                except Exception:
                    code = _code_name(context, "UNKNOWN")
                    raise
                finally:
                    record(method, code, perf_counter() - start)

            return generator

        if inspect.iscoroutinefunction(inner):

            async def coroutine(request: Any, context: Any) -> Any:
                start = perf_counter()
                code = "UNKNOWN"
                try:
                    result = await inner(request, context)
                    code = _code_name(context, "OK")
                    return result
                except asyncio.CancelledError:
                    code = "CANCELLED"
                    raise
                except Exception:
                    code = _code_name(context, "UNKNOWN")
                    raise
                finally:
                    record(method, code, perf_counter() - start)

            return coroutine
        return None


_STREAMING_KINDS = (
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)

# Codes that describe the caller's request rather than a server failure: not span errors.
_CLIENT_CODES = frozenset(
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


def _code_name(context: Any, default: str) -> str:
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


def _code_value(name: str) -> int:
    member = grpc.StatusCode.__members__.get(name)
    return member.value[0] if member is not None else 2


# --------------------------------------------------------------------------------------------
# Logs


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` (32 hex) and ``span_id`` (16 hex) of the current span to each record,
    or empty strings outside a trace. Attach it to handlers, e.g. with the format
    ``"%(asctime)s %(levelname)s %(name)s trace_id=%(trace_id)s %(message)s"``.
    Values already set on the record (``extra=``) are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "trace_id", None) is None:
            span_context = trace.get_current_span().get_span_context()
            if span_context.is_valid:
                record.trace_id = format(span_context.trace_id, "032x")
                record.span_id = format(span_context.span_id, "016x")
            else:
                record.trace_id = ""
                record.span_id = ""
        return True
