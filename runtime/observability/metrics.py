"""Prometheus metrics: one ``Metrics`` object per sidecar, on its own registry.

Metric names start with ``tandem_`` and are stable; every series carries ``app_id``. Labels have
bounded cardinality: HTTP ``path`` is the route template (``/v1.0/state/{storeName}/{key}``),
never the raw path; unknown HTTP methods become ``OTHER``; unknown gRPC methods ``unknown``.

``metrics_app`` serves ``GET /metrics`` (daprd's ``--metrics-port``, default 9090).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

__all__ = [
    "CIRCUIT_BREAKER_STATES",
    "DEFAULT_METRICS_PORT",
    "LATENCY_BUCKETS",
    "Metrics",
    "metrics_app",
    "serve_metrics",
]

DEFAULT_METRICS_PORT: Final = 9090
LATENCY_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
CIRCUIT_BREAKER_STATES: Final = {"closed": 0, "half-open": 1, "open": 2}

_HTTP_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)


class Metrics:
    """All Tandem metrics, registered on ``self.registry`` (never the global registry).

    The ``observe_*`` methods are the hot path; the other building blocks' metrics are public
    attributes for their services to use (label names are in each help text and below):

    * ``pubsub_published``  ``tandem_pubsub_published_total{app_id,component,topic,success}``
    * ``pubsub_delivered``  ``tandem_pubsub_delivered_total{app_id,component,topic,status}``
      (status: ``success``, ``retry``, ``drop``)
    * ``pubsub_retries``    ``tandem_pubsub_retries_total{app_id,component,topic}``
    * ``pubsub_dropped``    ``tandem_pubsub_dropped_total{app_id,component,topic}``
    * ``pubsub_deadletter`` ``tandem_pubsub_deadletter_total{app_id,component,topic}``
    * ``invocation_requests`` / ``invocation_latency`` (see ``observe_invocation``)
    * ``circuit_breaker_state`` ``tandem_circuit_breaker_state{app_id,target}`` (see
      ``set_circuit_breaker_state``)
    """

    def __init__(
        self,
        app_id: str = "",
        *,
        process_metrics: bool = True,
        latency_buckets: Sequence[float] | None = None,
    ) -> None:
        """``latency_buckets`` (seconds) replaces ``LATENCY_BUCKETS`` for every histogram, e.g.
        from the Configuration's ``metrics.latencyDistributionBuckets`` (milliseconds there)."""
        self.app_id = app_id
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        buckets = tuple(latency_buckets) if latency_buckets else LATENCY_BUCKETS

        self.http_requests = Counter(
            "tandem_http_server_requests_total",
            "HTTP API requests by route template and status code.",
            ["app_id", "method", "path", "status"],
            registry=reg,
        )
        self.http_latency = Histogram(
            "tandem_http_server_latency_seconds",
            "HTTP API request latency by route template.",
            ["app_id", "method", "path"],
            buckets=buckets,
            registry=reg,
        )
        self.grpc_requests = Counter(
            "tandem_grpc_server_requests_total",
            "gRPC API calls by full method name and status code name.",
            ["app_id", "method", "status"],
            registry=reg,
        )
        self.grpc_latency = Histogram(
            "tandem_grpc_server_latency_seconds",
            "gRPC API call latency by full method name.",
            ["app_id", "method"],
            buckets=buckets,
            registry=reg,
        )
        self.component_operations = Counter(
            "tandem_component_operations_total",
            "Component operations by component, building block, operation and outcome.",
            ["app_id", "component", "block", "operation", "success"],
            registry=reg,
        )
        self.component_latency = Histogram(
            "tandem_component_latency_seconds",
            "Component operation latency.",
            ["app_id", "component", "block", "operation"],
            buckets=buckets,
            registry=reg,
        )
        self.pubsub_published = Counter(
            "tandem_pubsub_published_total",
            "Messages published, by pub/sub component, topic and outcome.",
            ["app_id", "component", "topic", "success"],
            registry=reg,
        )
        self.pubsub_delivered = Counter(
            "tandem_pubsub_delivered_total",
            "Messages delivered to the app, by outcome (success, retry, drop).",
            ["app_id", "component", "topic", "status"],
            registry=reg,
        )
        self.pubsub_retries = Counter(
            "tandem_pubsub_retries_total",
            "Delivery retries of messages to the app.",
            ["app_id", "component", "topic"],
            registry=reg,
        )
        self.pubsub_dropped = Counter(
            "tandem_pubsub_dropped_total",
            "Messages dropped after the app or the retry policy gave up.",
            ["app_id", "component", "topic"],
            registry=reg,
        )
        self.pubsub_deadletter = Counter(
            "tandem_pubsub_deadletter_total",
            "Messages forwarded to a dead-letter topic.",
            ["app_id", "component", "topic"],
            registry=reg,
        )
        self.invocation_requests = Counter(
            "tandem_invocation_requests_total",
            "Service invocation calls made, by target app and status.",
            ["app_id", "target_app", "status"],
            registry=reg,
        )
        self.invocation_latency = Histogram(
            "tandem_invocation_latency_seconds",
            "Service invocation latency by target app.",
            ["app_id", "target_app"],
            buckets=buckets,
            registry=reg,
        )
        self.circuit_breaker_state = Gauge(
            "tandem_circuit_breaker_state",
            "Circuit breaker state per target: 0 closed, 1 half-open, 2 open.",
            ["app_id", "target"],
            registry=reg,
        )
        if process_metrics:
            ProcessCollector(registry=reg)  # process_cpu_seconds_total, process_*_memory_bytes
            PlatformCollector(registry=reg)  # python_info

        # label tuple -> (counter child, histogram child); cardinality is bounded by design
        self._http_children: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}
        self._grpc_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._component_children: dict[
            tuple[str, str, str, str, bool], tuple[Counter, Histogram]
        ] = {}

    def observe_http(
        self,
        *,
        method: str,
        path: str,
        status: int,
        duration: float,
        app_id: str | None = None,
    ) -> None:
        """One HTTP API request. ``path`` must be the route template; ``duration`` in seconds."""
        app = self.app_id if app_id is None else app_id
        if method not in _HTTP_METHODS:
            method = "OTHER"
        key = (app, method, path, str(status))
        children = self._http_children.get(key)
        if children is None:
            children = (
                self.http_requests.labels(app, method, path, key[3]),
                self.http_latency.labels(app, method, path),
            )
            self._http_children[key] = children
        children[0].inc()
        children[1].observe(duration)

    def observe_grpc(
        self, *, method: str, status: str, duration: float, app_id: str | None = None
    ) -> None:
        """One gRPC API call: ``method`` is ``/package.Service/Method``, ``status`` a code name."""
        app = self.app_id if app_id is None else app_id
        key = (app, method, status)
        children = self._grpc_children.get(key)
        if children is None:
            children = (
                self.grpc_requests.labels(app, method, status),
                self.grpc_latency.labels(app, method),
            )
            self._grpc_children[key] = children
        children[0].inc()
        children[1].observe(duration)

    def observe_component(
        self,
        *,
        component: str,
        block: str,
        operation: str,
        success: bool,
        duration: float,
        app_id: str | None = None,
    ) -> None:
        """One component operation (what ``Observer.component_call`` wraps)."""
        app = self.app_id if app_id is None else app_id
        key = (app, component, block, operation, success)
        children = self._component_children.get(key)
        if children is None:
            children = (
                self.component_operations.labels(
                    app, component, block, operation, "true" if success else "false"
                ),
                self.component_latency.labels(app, component, block, operation),
            )
            self._component_children[key] = children
        children[0].inc()
        children[1].observe(duration)

    def observe_invocation(self, *, target_app: str, status: str | int, duration: float) -> None:
        """One outgoing service invocation (``status``: HTTP status or gRPC code name)."""
        self.invocation_requests.labels(self.app_id, target_app, str(status)).inc()
        self.invocation_latency.labels(self.app_id, target_app).observe(duration)

    def set_circuit_breaker_state(self, target: str, state: str) -> None:
        """``state`` is ``closed``, ``half-open`` or ``open``."""
        try:
            value = CIRCUIT_BREAKER_STATES[state]
        except KeyError:
            raise ValueError(f"unknown circuit breaker state {state!r}") from None
        self.circuit_breaker_state.labels(self.app_id, target).set(value)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition text and its content type (OpenMetrics when ``accept`` asks for it)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def metrics_app(metrics: Metrics) -> web.Application:
    """An aiohttp app serving ``GET /metrics`` for ``metrics``."""

    async def handle(request: web.Request) -> web.Response:
        body, content_type = metrics.render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    return app


async def serve_metrics(
    metrics: Metrics, *, host: str = "0.0.0.0", port: int = DEFAULT_METRICS_PORT
) -> web.AppRunner:
    """Start the metrics server; ``await runner.cleanup()`` stops it.

    ``port=0`` picks a free port: read it from ``runner.addresses``.
    """
    runner = web.AppRunner(metrics_app(metrics), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
