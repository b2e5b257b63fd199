"""``http_middleware``: traces, metrics and the API log line for the HTTP API.

Put it FIRST in ``web.Application(middlewares=[...])`` (outermost), so the span covers the other
middlewares and the status recorded is the one the client gets. It also works further in: an
``HTTPException`` is recorded with its status, any other exception as 500, then re-raised.
With tracing off no span is created; a caller's ``traceparent`` is still attached as the current
context so outgoing calls forward it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING

from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from runtime.observability import API_LOGGER
from runtime.observability.propagation import TRACEPARENT, extract_http, inject_http
from runtime.observability.tracing import get_tracer, should_trace, tracing_enabled

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler, Middleware

    from runtime.observability.metrics import Metrics

__all__ = [
    "CLIENT_CLOSED",
    "HEALTH_PREFIX",
    "UNMATCHED_ROUTE",
    "HttpCall",
    "HttpTelemetry",
    "http_middleware",
]

UNMATCHED_ROUTE = "unmatched"
"""The ``path`` label of requests that matched no route (404/405 from the router)."""
HEALTH_PREFIX = "/v1.0/healthz"
CLIENT_CLOSED = 499
"""Status recorded when the client went away and the handler was cancelled."""


def _route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


class HttpTelemetry:
    """Per-request telemetry, split in two so the API's edge can fold it into its one
    middleware: ``start`` before the handler, ``finish`` with the final status after it.

    Per request: extracts the caller's W3C context, runs the handler under a SERVER span
    ``"{METHOD} {route template}"``, records ``observe_http`` with the route template (or
    ``unmatched``), sets ``traceparent`` on the response when it has none (as daprd does) and,
    with ``api_logging``, logs one line: method, route template, status, duration, app id. It
    never logs bodies, header values or query strings. ``omit_health_checks`` leaves
    ``/v1.0/healthz*`` out of tracing and API logging (metrics still count them).
    """

    __slots__ = ("_api_logging", "_app_id", "_log", "_metrics", "_omit_health")

    def __init__(
        self,
        metrics: Metrics | None,
        *,
        app_id: str,
        api_logging: bool = False,
        logger: logging.Logger | None = None,
        omit_health_checks: bool = True,
    ) -> None:
        self._metrics = metrics
        self._app_id = app_id
        self._api_logging = api_logging
        self._log = logger if logger is not None else logging.getLogger(API_LOGGER)
        self._omit_health = omit_health_checks

    def start(self, request: web.Request) -> HttpCall:
        """Begin a request's telemetry: its span (when traced) and context are current."""
        route = _route_template(request)
        method = request.method
        quiet = self._omit_health and route.startswith(HEALTH_PREFIX)
        span: trace.Span | None = None
        token: object = None
        headers = request.headers
        if tracing_enabled() and not quiet:
            parent = extract_http(headers) if TRACEPARENT in headers else None
            if should_trace(parent):
                span, token = _start_http_span(method, route, self._app_id, parent)
            elif parent is not None:
                token = otel_context.attach(parent)
        elif TRACEPARENT in headers:
            token = otel_context.attach(extract_http(headers))
        return HttpCall(perf_counter(), method, route, quiet, span, token)

    def finish(self, call: HttpCall, status: int) -> None:
        """End it with the status the client gets (``CLIENT_CLOSED`` when cancelled)."""
        duration = perf_counter() - call.start
        if self._api_logging and not call.quiet:  # inside the request's context: its trace id
            _log_http_call(
                self._log, call.method, call.route, status, duration, app_id=self._app_id
            )
        if call.token is not None:
            otel_context.detach(call.token)  # type: ignore[arg-type]
        if call.span is not None:
            _end_http_span(call.span, status)
        if self._metrics is not None:
            self._metrics.observe_http(
                method=call.method,
                path=call.route,
                status=status,
                duration=duration,
                app_id=self._app_id,
            )


@dataclass(slots=True)
class HttpCall:
    """One request's telemetry in progress (see ``HttpTelemetry``)."""

    start: float
    method: str
    route: str
    quiet: bool
    span: trace.Span | None
    token: object

    def answered(self, response: web.StreamResponse) -> None:
        """The response (or ``HTTPException``) about to go out: tell the caller the trace id."""
        if self.span is not None:
            _set_trace_headers(response)

    def failed(self, exc: BaseException) -> None:
        """An exception escaped the handler: recorded on the span."""
        span = self.span
        if span is not None and span.is_recording():
            span.record_exception(exc, escaped=True)


def http_middleware(
    metrics: Metrics | None,
    *,
    app_id: str,
    api_logging: bool = False,
    logger: logging.Logger | None = None,
    omit_health_checks: bool = True,
) -> Middleware:
    """``HttpTelemetry`` as an aiohttp middleware (see the module docstring for its position)."""
    telemetry = HttpTelemetry(
        metrics,
        app_id=app_id,
        api_logging=api_logging,
        logger=logger,
        omit_health_checks=omit_health_checks,
    )

    @web.middleware
    async def telemetry_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        call = telemetry.start(request)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            call.answered(response)
            return response
        except web.HTTPException as exc:
            status = exc.status
            call.answered(exc)
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        except Exception as exc:
            call.failed(exc)
            raise
        finally:
            telemetry.finish(call, status)

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
