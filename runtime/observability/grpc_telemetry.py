"""``GrpcTelemetryInterceptor``: traces, metrics and the API log line for the gRPC API.

Pass it in ``grpc.aio.server(interceptors=[...])``, first. With tracing off no span is created; a
caller's ``traceparent`` is still attached as the current context so outgoing calls forward it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from time import perf_counter
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from runtime.observability import API_LOGGER
from runtime.observability.propagation import TRACEPARENT, extract_grpc
from runtime.observability.tracing import get_tracer, should_trace, tracing_enabled

if TYPE_CHECKING:
    from runtime.observability.metrics import Metrics

__all__ = ["UNKNOWN_GRPC_METHOD", "GrpcTelemetryInterceptor"]

UNKNOWN_GRPC_METHOD = "unknown"
"""The ``method`` label of calls to methods the server does not implement."""


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
        self._log = logger if logger is not None else logging.getLogger(API_LOGGER)
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
