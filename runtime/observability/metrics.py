"""Prometheus metrics: one ``Metrics`` object per sidecar, on its own registry.

Metric names start with ``tandem_`` and are stable; every series carries ``app_id``. Labels have
bounded cardinality: HTTP ``path`` is the route template (``/v1.0/state/{storeName}/{key}``),
never the raw path; unknown HTTP methods become ``OTHER``; unknown gRPC methods ``unknown``.

``metrics_app`` serves ``GET /metrics`` (daprd's ``--metrics-port``, default 9090).

Hot path: ``observe_http``, ``observe_grpc`` and ``observe_component`` run on every API request
and component call, so they do not go through prometheus-client's ``Counter``/``Histogram``
(a lock per update, a Python loop over the buckets per observation). They add to plain Python
numbers kept per series (a counter is a one-element list; a histogram a list of per-bucket
counts, the bucket found with ``bisect``, followed by the sum) and ``_HotCollector``, registered
on the same registry, builds the counter and histogram families from them at scrape time.
Scrapers see what prometheus-client's own metrics gave: the same names, help, types, label sets,
cumulative ``_bucket`` series up to ``+Inf``, ``_count``, ``_sum`` and ``_created`` (left out,
as prometheus-client does, when created series are disabled: ``PROMETHEUS_DISABLE_CREATED_SERIES``
or ``prometheus_client.disable_created_metrics()``).

Threading contract: those three methods update without locks, so they must all be called from
ONE thread, the sidecar's event loop thread. The HTTP middleware, the gRPC interceptor's async
behaviors and ``TelemetryObserver.__aexit__`` all run there; the interceptor does not wrap sync
gRPC handlers (grpc runs those in its thread pool). Creating a series takes a lock, and scraping
may happen on any thread: it copies each series (under the GIL a scrape may see a request in its
counter and not yet in its histogram, never a torn series). A caller on another thread could
lose an increment racing with the loop's: it must hand the observation to the loop
(``loop.call_soon_threadsafe``) instead.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client import metrics as _prometheus_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.samples import Sample
from prometheus_client.utils import INF, floatToGoString

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


_bucket_label: Callable[[float], str] = floatToGoString  # the ``le`` text Histogram writes


def _created_series_enabled() -> bool:
    """prometheus-client's switch for ``*_created`` samples, read at each scrape like its own."""
    return bool(getattr(_prometheus_metrics, "_use_created", True))


def _upper_bounds(source: Sequence[float]) -> tuple[float, ...]:
    """Bucket upper bounds ending with ``+Inf``, validated as ``Histogram`` does."""
    bounds = [float(bound) for bound in source]
    if bounds != sorted(bounds):
        raise ValueError("Buckets not in sorted order")
    if bounds and bounds[-1] != INF:
        bounds.append(INF)
    if len(bounds) < 2:
        raise ValueError("Must have at least two buckets")
    return tuple(bounds)


class _HotCounter:
    """A counter family whose series are one-element lists, incremented in place."""

    __slots__ = ("documentation", "labelnames", "name", "series")

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name = name.removesuffix("_total")
        self.documentation = documentation
        self.labelnames = labelnames
        # label values -> (cell, created); insertion order is the exposition order
        self.series: dict[tuple[str, ...], tuple[list[int], float]] = {}

    def cell(self, labelvalues: tuple[str, ...]) -> list[int]:
        """The series' cell: ``cell[0] += 1`` counts. Call under ``Metrics._lock``."""
        found = self.series.get(labelvalues)
        if found is None:
            found = ([0], time.time())
            self.series[labelvalues] = found
        return found[0]

    def family(self, *, created: bool) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        samples = family.samples
        total, created_name = self.name + "_total", self.name + "_created"
        for values, (cell, created_at) in list(self.series.items()):
            labels = dict(zip(self.labelnames, values, strict=True))
            samples.append(Sample(total, labels, cell[0]))
            if created:
                samples.append(Sample(created_name, dict(labels), created_at))
        return family


class _HotHistogram:
    """A histogram family whose series are lists: one count per bucket (``+Inf`` last, not
    cumulative), then the sum. ``Metrics`` updates them in place."""

    __slots__ = ("bounds", "documentation", "labelnames", "les", "name", "series")

    def __init__(
        self, name: str, documentation: str, labelnames: tuple[str, ...], bounds: tuple[float, ...]
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.bounds = bounds
        self.les = tuple(_bucket_label(bound) for bound in bounds)
        self.series: dict[tuple[str, ...], tuple[list[float], float]] = {}

    def cell(self, labelvalues: tuple[str, ...]) -> list[float]:
        """The series' cell: ``cell[bisect_left(bounds, v)] += 1; cell[-1] += v`` observes
        ``v`` (a value equal to a bound falls in that bound's bucket, as ``le`` says). Call under
        ``Metrics._lock``."""
        found = self.series.get(labelvalues)
        if found is None:
            found = ([0.0] * (len(self.bounds) + 1), time.time())
            self.series[labelvalues] = found
        return found[0]

    def family(self, *, created: bool) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        samples = family.samples
        name = self.name
        bucket, count, total, created_name = (
            name + "_bucket",
            name + "_count",
            name + "_sum",
            name + "_created",
        )
        with_sum = self.bounds[0] >= 0  # as prometheus-client: no _sum with negative buckets
        for values, (cell, created_at) in list(self.series.items()):
            snapshot = cell[:]  # one consistent copy, even when scraped from another thread
            labels = dict(zip(self.labelnames, values, strict=True))
            cumulative = 0.0
            for le, observed in zip(self.les, snapshot[:-1], strict=True):
                cumulative += observed
                samples.append(Sample(bucket, {**labels, "le": le}, cumulative))
            samples.append(Sample(count, dict(labels), cumulative))
            if with_sum:
                samples.append(Sample(total, dict(labels), snapshot[-1]))
            if created:
                samples.append(Sample(created_name, dict(labels), created_at))
        return family


class _HotCollector:
    """Exports the hot-path families, in order, from their cells at each scrape."""

    def __init__(self, families: Sequence[_HotCounter | _HotHistogram]) -> None:
        self._families = tuple(families)

    def describe(self) -> Iterator[Metric]:
        """Names for the registry's duplicate check (no samples: nothing is read)."""
        for hot in self._families:
            if isinstance(hot, _HotCounter):
                yield CounterMetricFamily(hot.name, hot.documentation, labels=hot.labelnames)
            else:
                yield HistogramMetricFamily(hot.name, hot.documentation, labels=hot.labelnames)

    def collect(self) -> Iterator[Metric]:
        created = _created_series_enabled()
        for hot in self._families:
            yield hot.family(created=created)


class Metrics:
    """All Tandem metrics, registered on ``self.registry`` (never the global registry).

    The ``observe_*`` methods are the hot path (see the module docstring for how they record
    and the one-thread contract of ``observe_http``, ``observe_grpc`` and ``observe_component``).
    The other building blocks' metrics are prometheus-client objects, public attributes for
    their services to use (label names are in each help text and below):

    * ``pubsub_published``  ``tandem_pubsub_published_total{app_id,component,topic,success}``
    * ``pubsub_delivered``  ``tandem_pubsub_delivered_total{app_id,component,topic,status}``
      (status: ``success``, ``retry``, ``drop``)
    * ``pubsub_retries``    ``tandem_pubsub_retries_total{app_id,component,topic}``
    * ``pubsub_dropped``    ``tandem_pubsub_dropped_total{app_id,component,topic}``
    * ``pubsub_deadletter`` ``tandem_pubsub_deadletter_total{app_id,component,topic}``
    * ``invocation_requests`` / ``invocation_latency`` (see ``observe_invocation``)
    * ``circuit_breaker_state`` ``tandem_circuit_breaker_state{app_id,target}`` (see
      ``set_circuit_breaker_state``)
    * ``resiliency_retries`` ``tandem_resiliency_retries_total{app_id,target,policy}``,
      ``resiliency_timeouts`` ``tandem_resiliency_timeouts_total{app_id,target,policy}`` and
      ``breaker_rejections`` ``tandem_resiliency_breaker_rejections_total{app_id,target,policy}``
      (``target`` as in the Resiliency YAML: ``components.<name>.outbound``, ``apps.<id>``;
      recorded by ``runtime.resiliency`` through ``resiliency_retry`` and friends)
    * ``feature_flag_evaluations``
      ``tandem_feature_flag_evaluations_total{app_id,flag_key,variant,reason,error_type}``

    The API and component series are ``tandem_http_server_requests_total{app_id,method,path,
    status}``, ``tandem_http_server_latency_seconds{app_id,method,path}``,
    ``tandem_grpc_server_requests_total{app_id,method,status}``,
    ``tandem_grpc_server_latency_seconds{app_id,method}``,
    ``tandem_component_operations_total{app_id,component,block,operation,success}`` and
    ``tandem_component_latency_seconds{app_id,component,block,operation}``.
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
        self._bounds = _upper_bounds(buckets)
        self._lock = threading.Lock()  # creating series only; recording takes no lock

        self._http_requests = _HotCounter(
            "tandem_http_server_requests_total",
            "HTTP API requests by route template and status code.",
            ("app_id", "method", "path", "status"),
        )
        self._http_latency = _HotHistogram(
            "tandem_http_server_latency_seconds",
            "HTTP API request latency by route template.",
            ("app_id", "method", "path"),
            self._bounds,
        )
        self._grpc_requests = _HotCounter(
            "tandem_grpc_server_requests_total",
            "gRPC API calls by full method name and status code name.",
            ("app_id", "method", "status"),
        )
        self._grpc_latency = _HotHistogram(
            "tandem_grpc_server_latency_seconds",
            "gRPC API call latency by full method name.",
            ("app_id", "method"),
            self._bounds,
        )
        self._component_operations = _HotCounter(
            "tandem_component_operations_total",
            "Component operations by component, building block, operation and outcome.",
            ("app_id", "component", "block", "operation", "success"),
        )
        self._component_latency = _HotHistogram(
            "tandem_component_latency_seconds",
            "Component operation latency.",
            ("app_id", "component", "block", "operation"),
            self._bounds,
        )
        # registered first: the exposition order is the one the Counter/Histogram objects had
        reg.register(
            _HotCollector(
                (
                    self._http_requests,
                    self._http_latency,
                    self._grpc_requests,
                    self._grpc_latency,
                    self._component_operations,
                    self._component_latency,
                )
            )
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
        self.feature_flag_evaluations = Counter(
            "tandem_feature_flag_evaluations_total",
            "Feature flag evaluations, by flag key, variant, reason and error type.",
            ["app_id", "flag_key", "variant", "reason", "error_type"],
            registry=reg,
        )
        self.resiliency_retries = Counter(
            "tandem_resiliency_retries_total",
            "Retries made by a resiliency retry policy, by target and policy name.",
            ["app_id", "target", "policy"],
            registry=reg,
        )
        self.resiliency_timeouts = Counter(
            "tandem_resiliency_timeouts_total",
            "Attempts cut short by a resiliency timeout policy, by target and policy name.",
            ["app_id", "target", "policy"],
            registry=reg,
        )
        self.breaker_rejections = Counter(
            "tandem_resiliency_breaker_rejections_total",
            "Calls refused at once by an open (or probing half-open) circuit breaker.",
            ["app_id", "target", "policy"],
            registry=reg,
        )
        if process_metrics:
            ProcessCollector(registry=reg)  # process_cpu_seconds_total, process_*_memory_bytes
            PlatformCollector(registry=reg)  # python_info

        # call key -> (counter cell, histogram cell); cardinality is bounded by design (route
        # templates, known methods, status codes, configured components)
        self._http_cells: dict[tuple[str, str, str, int], tuple[list[int], list[float]]] = {}
        self._grpc_cells: dict[tuple[str, str, str], tuple[list[int], list[float]]] = {}
        self._component_cells: dict[
            tuple[str, str, str, str, bool], tuple[list[int], list[float]]
        ] = {}

    # -- hot path: event loop thread only (module docstring)

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
        key = (
            self.app_id if app_id is None else app_id,
            method if method in _HTTP_METHODS else "OTHER",
            path,
            status,
        )
        cells = self._http_cells.get(key)
        if cells is None:
            cells = self._new_http_cells(key)
        cells[0][0] += 1
        latency = cells[1]
        latency[bisect_left(self._bounds, duration)] += 1
        latency[-1] += duration

    def observe_grpc(
        self, *, method: str, status: str, duration: float, app_id: str | None = None
    ) -> None:
        """One gRPC API call: ``method`` is ``/package.Service/Method``, ``status`` a code name."""
        key = (self.app_id if app_id is None else app_id, method, status)
        cells = self._grpc_cells.get(key)
        if cells is None:
            cells = self._new_grpc_cells(key)
        cells[0][0] += 1
        latency = cells[1]
        latency[bisect_left(self._bounds, duration)] += 1
        latency[-1] += duration

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
        key = (self.app_id if app_id is None else app_id, component, block, operation, success)
        cells = self._component_cells.get(key)
        if cells is None:
            cells = self._new_component_cells(key)
        cells[0][0] += 1
        latency = cells[1]
        latency[bisect_left(self._bounds, duration)] += 1
        latency[-1] += duration

    def _new_http_cells(self, key: tuple[str, str, str, int]) -> tuple[list[int], list[float]]:
        app, method, path, status = key
        with self._lock:
            cells = self._http_cells.get(key)
            if cells is None:
                cells = (
                    self._http_requests.cell((app, method, path, str(status))),
                    self._http_latency.cell((app, method, path)),
                )
                self._http_cells[key] = cells
        return cells

    def _new_grpc_cells(self, key: tuple[str, str, str]) -> tuple[list[int], list[float]]:
        app, method, _ = key
        with self._lock:
            cells = self._grpc_cells.get(key)
            if cells is None:
                cells = (self._grpc_requests.cell(key), self._grpc_latency.cell((app, method)))
                self._grpc_cells[key] = cells
        return cells

    def _new_component_cells(
        self, key: tuple[str, str, str, str, bool]
    ) -> tuple[list[int], list[float]]:
        app, component, block, operation, success = key
        with self._lock:
            cells = self._component_cells.get(key)
            if cells is None:
                cells = (
                    self._component_operations.cell(
                        (app, component, block, operation, "true" if success else "false")
                    ),
                    self._component_latency.cell((app, component, block, operation)),
                )
                self._component_cells[key] = cells
        return cells

    # -- the other building blocks (not hot: prometheus-client objects)

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

    def resiliency_retry(self, target: str, policy: str) -> None:
        self.resiliency_retries.labels(self.app_id, target, policy).inc()

    def resiliency_timeout(self, target: str, policy: str) -> None:
        self.resiliency_timeouts.labels(self.app_id, target, policy).inc()

    def resiliency_rejected(self, target: str, policy: str) -> None:
        self.breaker_rejections.labels(self.app_id, target, policy).inc()

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
    metrics: Metrics, *, addresses: Sequence[str], port: int = DEFAULT_METRICS_PORT
) -> web.AppRunner:
    """Serve ``GET /metrics`` on ``port`` at each of ``addresses`` (the API listen addresses;
    there is deliberately no all-interfaces default). ``await runner.cleanup()`` stops it.

    ``port=0`` picks a free port per address: read them from ``runner.addresses``. Raises
    ``OSError`` naming the address that could not be bound (nothing stays bound then).
    """
    if not addresses:
        raise ValueError("serve_metrics needs at least one listen address")
    runner = web.AppRunner(metrics_app(metrics), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        for address in addresses:
            try:
                await web.TCPSite(runner, address, port).start()
            except OSError as exc:
                raise OSError(
                    exc.errno, f"cannot listen on {address}:{port} for metrics: {exc.strerror}"
                ) from exc
    except BaseException:
        await runner.cleanup()
        raise
    return runner
