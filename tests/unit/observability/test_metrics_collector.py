"""The hot-path metrics (plain counters and bucket arrays exported by a custom collector).

The exposition must be what prometheus-client's own ``Counter``/``Histogram`` gave before:
``test_exposition_matches_prometheus_client_metrics`` feeds the same calls to both and compares
the parsed output, in both formats, with and without ``_created`` series.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, Metric
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from runtime.observability.metrics import LATENCY_BUCKETS, Metrics

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
ROUTE = "/v1.0/state/{storeName}/{key}"
GET_STATE = "/dapr.proto.runtime.v1.Dapr/GetState"

Labels = frozenset[tuple[str, str]]


def labels(**kwargs: str) -> Labels:
    return frozenset(kwargs.items())


def families(metrics: Metrics, accept: str = "") -> list[Metric]:
    body, _ = metrics.render(accept)
    parse = parse_openmetrics if accept else parse_text
    return list(parse(body.decode()))


def samples(metrics: Metrics, accept: str = "") -> dict[tuple[str, Labels], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families(metrics, accept)
        for sample in family.samples
    }


def buckets(
    got: dict[tuple[str, Labels], float], name: str, **series: str
) -> list[tuple[str, float]]:
    """The ``(le, cumulative count)`` pairs of one histogram series, in exposition order."""
    found = [
        (dict(key)["le"], value)
        for (sample, key), value in got.items()
        if sample == name + "_bucket" and key - {("le", dict(key)["le"])} == labels(**series)
    ]
    return sorted(found, key=lambda pair: float(pair[0]))


@pytest.fixture
def created_series(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """Switch prometheus-client's ``*_created`` series on or off for one test."""
    monkeypatch.setattr(prometheus_metrics, "_use_created", prometheus_metrics._use_created)

    def switch(enabled: bool) -> None:
        # prometheus-client's public switches (untyped: hence the typed aliases)
        enable: Callable[[], None] = prometheus_metrics.enable_created_metrics
        disable: Callable[[], None] = prometheus_metrics.disable_created_metrics
        (enable if enabled else disable)()

    return switch


# ---------------------------------------------------------------------------------------------
# Exact counts and cumulative buckets


def test_buckets_are_cumulative_with_values_on_bounds_and_above_the_last() -> None:
    metrics = Metrics("orders", process_metrics=False, latency_buckets=[0.001, 0.01, 0.1])
    observed = [0.0, 0.001, 0.0010001, 0.01, 0.05, 0.1, 0.5, 7.0]
    for duration in observed:
        metrics.observe_http(method="GET", path=ROUTE, status=200, duration=duration)

    got = samples(metrics)
    series = {"app_id": "orders", "method": "GET", "path": ROUTE}
    # a value equal to a bound counts in that bound's bucket (le = "less than or equal")
    assert buckets(got, "tandem_http_server_latency_seconds", **series) == [
        ("0.001", 2.0),  # 0.0, 0.001
        ("0.01", 4.0),  # + 0.0010001, 0.01
        ("0.1", 6.0),  # + 0.05, 0.1
        ("+Inf", 8.0),  # + 0.5, 7.0
    ]
    assert got[("tandem_http_server_latency_seconds_count", labels(**series))] == 8
    assert got[("tandem_http_server_latency_seconds_sum", labels(**series))] == sum(observed)
    assert got[("tandem_http_server_requests_total", labels(**series, status="200"))] == 8


def test_default_buckets_first_and_last_bounds() -> None:
    metrics = Metrics("a", process_metrics=False)
    for duration in (LATENCY_BUCKETS[0], LATENCY_BUCKETS[-1], LATENCY_BUCKETS[-1] + 0.5):
        metrics.observe_grpc(method=GET_STATE, status="OK", duration=duration)

    got = samples(metrics)
    series = {"app_id": "a", "method": GET_STATE}
    cumulative = buckets(got, "tandem_grpc_server_latency_seconds", **series)
    assert [le for le, _ in cumulative] == [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]
    assert cumulative[0] == ("0.0001", 1.0)
    assert all(count == 1.0 for _, count in cumulative[1:-2])
    assert cumulative[-2:] == [("10.0", 2.0), ("+Inf", 3.0)]
    assert got[("tandem_grpc_server_latency_seconds_count", labels(**series))] == 3
    assert got[("tandem_grpc_server_requests_total", labels(**series, status="OK"))] == 3


def test_label_sets_of_every_hot_family() -> None:
    metrics = Metrics("orders", process_metrics=False)
    metrics.observe_http(method="BREW", path="unmatched", status=405, duration=0.001)
    metrics.observe_grpc(method=GET_STATE, status="NOT_FOUND", duration=0.001)
    metrics.observe_component(
        component="statestore", block="state", operation="get", success=False, duration=0.001
    )

    names: dict[str, set[frozenset[str]]] = {}
    for family in families(metrics):
        for sample in family.samples:
            names.setdefault(sample.name, set()).add(frozenset(sample.labels))
    http, grpc = {"app_id", "method", "path"}, {"app_id", "method"}
    component = {"app_id", "component", "block", "operation"}
    expected = {
        "tandem_http_server_requests_total": {*http, "status"},
        "tandem_http_server_latency_seconds_bucket": {*http, "le"},
        "tandem_http_server_latency_seconds_count": http,
        "tandem_grpc_server_requests_total": {*grpc, "status"},
        "tandem_grpc_server_latency_seconds_bucket": {*grpc, "le"},
        "tandem_grpc_server_latency_seconds_count": grpc,
        "tandem_component_operations_total": {*component, "success"},
        "tandem_component_latency_seconds_bucket": {*component, "le"},
        "tandem_component_latency_seconds_count": component,
    }
    for name, label_names in expected.items():
        assert names[name] == {frozenset(label_names)}, name

    got = samples(metrics)
    assert got[
        (
            "tandem_http_server_requests_total",
            labels(app_id="orders", method="OTHER", path="unmatched", status="405"),
        )
    ]
    assert got[
        (
            "tandem_component_operations_total",
            labels(
                app_id="orders",
                component="statestore",
                block="state",
                operation="get",
                success="false",
            ),
        )
    ]


def test_outcomes_share_one_latency_series() -> None:
    metrics = Metrics("a", process_metrics=False)
    for status, duration in ((200, 0.002), (404, 0.003), (200, 0.004)):
        metrics.observe_http(method="GET", path=ROUTE, status=status, duration=duration)
    for success in (True, False, True):
        metrics.observe_component(
            component="s", block="state", operation="get", success=success, duration=0.5
        )

    got = samples(metrics)
    http = {"app_id": "a", "method": "GET", "path": ROUTE}
    assert got[("tandem_http_server_requests_total", labels(**http, status="200"))] == 2
    assert got[("tandem_http_server_requests_total", labels(**http, status="404"))] == 1
    assert got[("tandem_http_server_latency_seconds_count", labels(**http))] == 3
    assert got[("tandem_http_server_latency_seconds_sum", labels(**http))] == pytest.approx(0.009)
    comp = {"app_id": "a", "component": "s", "block": "state", "operation": "get"}
    assert got[("tandem_component_operations_total", labels(**comp, success="true"))] == 2
    assert got[("tandem_component_operations_total", labels(**comp, success="false"))] == 1
    assert got[("tandem_component_latency_seconds_count", labels(**comp))] == 3
    assert got[("tandem_component_latency_seconds_sum", labels(**comp))] == 1.5


def test_no_series_before_the_first_call() -> None:
    metrics = Metrics("a", process_metrics=False)
    hot = [f for f in families(metrics) if not f.name.startswith(("tandem_pubsub", "tandem_inv"))]
    assert [f.name for f in hot][:6] == [
        "tandem_http_server_requests",
        "tandem_http_server_latency_seconds",
        "tandem_grpc_server_requests",
        "tandem_grpc_server_latency_seconds",
        "tandem_component_operations",
        "tandem_component_latency_seconds",
    ]
    assert all(not f.samples for f in hot[:6])
    assert metrics.registry.get_sample_value("tandem_http_server_requests_total") is None


# ---------------------------------------------------------------------------------------------
# Instances, registry, buckets


def test_two_instances_are_independent() -> None:
    first = Metrics("same", process_metrics=False)
    second = Metrics("same", process_metrics=False, latency_buckets=[0.5])
    for _ in range(3):
        first.observe_http(method="GET", path="/x", status=200, duration=0.25)
    second.observe_http(method="GET", path="/x", status=200, duration=0.25)
    first.observe_component(
        component="c", block="state", operation="get", success=True, duration=0.1
    )

    series = {"app_id": "same", "method": "GET", "path": "/x"}
    got_first, got_second = samples(first), samples(second)
    assert got_first[("tandem_http_server_requests_total", labels(**series, status="200"))] == 3
    assert got_second[("tandem_http_server_requests_total", labels(**series, status="200"))] == 1
    assert [
        le for le, _ in buckets(got_second, "tandem_http_server_latency_seconds", **series)
    ] == [
        "0.5",
        "+Inf",
    ]
    assert (
        len(buckets(got_first, "tandem_http_server_latency_seconds", **series))
        == len(LATENCY_BUCKETS) + 1
    )
    assert not any(name == "tandem_component_operations_total" for name, _ in got_second)
    assert first.registry is not second.registry


def test_registry_still_rejects_duplicate_names() -> None:
    metrics = Metrics("a", process_metrics=False)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Counter("tandem_http_server_requests_total", "again", registry=metrics.registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Histogram("tandem_component_latency_seconds", "again", registry=metrics.registry)


def test_bucket_validation_and_explicit_inf() -> None:
    with pytest.raises(ValueError, match="sorted"):
        Metrics("a", process_metrics=False, latency_buckets=[0.1, 0.01])
    metrics = Metrics("a", process_metrics=False, latency_buckets=[0.1, float("inf")])
    metrics.observe_grpc(method="/m", status="OK", duration=1e9)
    got = samples(metrics)
    assert buckets(got, "tandem_grpc_server_latency_seconds", app_id="a", method="/m") == [
        ("0.1", 0.0),
        ("+Inf", 1.0),
    ]


# ---------------------------------------------------------------------------------------------
# _created series


def test_created_series_per_counter_and_histogram_series(
    created_series: Callable[[bool], None],
) -> None:
    created_series(True)
    before = time.time()
    metrics = Metrics("a", process_metrics=False)
    metrics.observe_http(method="GET", path="/x", status=200, duration=0.1)
    metrics.observe_http(method="GET", path="/x", status=500, duration=0.1)
    after = time.time()

    got = samples(metrics)
    series = {"app_id": "a", "method": "GET", "path": "/x"}
    for status in ("200", "500"):
        key = ("tandem_http_server_requests_created", labels(**series, status=status))
        assert before <= got[key] <= after
    assert before <= got[("tandem_http_server_latency_seconds_created", labels(**series))] <= after
    created = [name for name, _ in got if name.endswith("_created")]
    assert len(created) == 3

    created_series(False)
    assert not any(name.endswith("_created") for name, _ in samples(metrics))
    assert not any(name.endswith("_created") for name, _ in samples(metrics, OPENMETRICS))


# ---------------------------------------------------------------------------------------------
# Same exposition as prometheus-client's Counter and Histogram


@dataclass
class Reference:
    """The six hot metrics as prometheus-client objects, recorded as ``Metrics`` used to."""

    registry: CollectorRegistry
    app_id: str
    http_requests: Counter
    http_latency: Histogram
    grpc_requests: Counter
    grpc_latency: Histogram
    component_operations: Counter
    component_latency: Histogram

    @classmethod
    def create(cls, app_id: str, bounds: Sequence[float]) -> Reference:
        reg = CollectorRegistry(auto_describe=True)
        return cls(
            reg,
            app_id,
            Counter(
                "tandem_http_server_requests_total",
                "HTTP API requests by route template and status code.",
                ["app_id", "method", "path", "status"],
                registry=reg,
            ),
            Histogram(
                "tandem_http_server_latency_seconds",
                "HTTP API request latency by route template.",
                ["app_id", "method", "path"],
                buckets=bounds,
                registry=reg,
            ),
            Counter(
                "tandem_grpc_server_requests_total",
                "gRPC API calls by full method name and status code name.",
                ["app_id", "method", "status"],
                registry=reg,
            ),
            Histogram(
                "tandem_grpc_server_latency_seconds",
                "gRPC API call latency by full method name.",
                ["app_id", "method"],
                buckets=bounds,
                registry=reg,
            ),
            Counter(
                "tandem_component_operations_total",
                "Component operations by component, building block, operation and outcome.",
                ["app_id", "component", "block", "operation", "success"],
                registry=reg,
            ),
            Histogram(
                "tandem_component_latency_seconds",
                "Component operation latency.",
                ["app_id", "component", "block", "operation"],
                buckets=bounds,
                registry=reg,
            ),
        )

    def http(self, method: str, path: str, status: int, duration: float) -> None:
        method = method if method in {"GET", "POST", "DELETE"} else "OTHER"
        self.http_requests.labels(self.app_id, method, path, str(status)).inc()
        self.http_latency.labels(self.app_id, method, path).observe(duration)

    def grpc(self, method: str, status: str, duration: float) -> None:
        self.grpc_requests.labels(self.app_id, method, status).inc()
        self.grpc_latency.labels(self.app_id, method).observe(duration)

    def component(self, name: str, operation: str, success: bool, duration: float) -> None:
        outcome = "true" if success else "false"
        self.component_operations.labels(self.app_id, name, "state", operation, outcome).inc()
        self.component_latency.labels(self.app_id, name, "state", operation).observe(duration)

    def render(self, accept: str) -> str:
        encoder, _ = choose_encoder(accept)
        return encoder(self.registry).decode()


def workload() -> Iterator[tuple[str, tuple[str, str, int | str | bool, float]]]:
    durations = [0.0, 0.00005, 0.0001, 0.0003, 0.001, 0.0049, 0.02, 0.3, 2.5, 9.9, 10.0, 30.0]
    for i, duration in enumerate(durations * 3):
        yield "http", (("GET", "POST", "BREW")[i % 3], (ROUTE, "unmatched")[i % 2], 200, duration)
        yield "http", ("DELETE", ROUTE, (204, 500)[i % 2], duration)
        yield "grpc", (GET_STATE, "", ("OK", "NOT_FOUND", "UNKNOWN")[i % 3], duration)
        yield "component", ("statestore", ("get", "set")[i % 2], i % 5 != 0, duration)
        yield "component", ("cache", "get", True, duration / 2)


def comparable(text: str, accept: str) -> list[tuple[str, str, str, list[tuple[object, ...]]]]:
    """Families in order, each with its samples; ``_created`` values (clock times) left out."""
    parse = parse_openmetrics if accept else parse_text
    return [
        (
            family.name,
            family.type,
            family.documentation,
            [
                (s.name, sorted(s.labels.items()))
                + (() if s.name.endswith("_created") else (s.value,))
                for s in family.samples
            ],
        )
        for family in parse(text)
        if family.name.removesuffix("_created").startswith(HOT_PREFIXES)
    ]


HOT_PREFIXES = ("tandem_http_server_", "tandem_grpc_server_", "tandem_component_")


def masked(text: str) -> str:
    """The exposition with the ``_created`` values (clock times) replaced."""
    return re.sub(r"(?m)^(\S*_created\{.*\}) \S+$", r"\1 <time>", text)


@pytest.mark.parametrize("accept", ["", OPENMETRICS], ids=["text", "openmetrics"])
@pytest.mark.parametrize("created", [True, False], ids=["created", "no-created"])
@pytest.mark.parametrize("bounds", [None, [0.001, 0.01, 1.0]], ids=["default", "custom"])
def test_exposition_matches_prometheus_client_metrics(
    accept: str,
    created: bool,
    bounds: list[float] | None,
    created_series: Callable[[bool], None],
) -> None:
    created_series(created)
    metrics = Metrics("orders", process_metrics=False, latency_buckets=bounds)
    reference = Reference.create("orders", bounds or LATENCY_BUCKETS)
    for kind, args in workload():
        if kind == "http":
            method, path, status, duration = args
            assert isinstance(status, int)
            metrics.observe_http(method=method, path=path, status=status, duration=duration)
            reference.http(method, path, status, duration)
        elif kind == "grpc":
            method, _, code, duration = args
            assert isinstance(code, str)
            metrics.observe_grpc(method=method, status=code, duration=duration)
            reference.grpc(method, code, duration)
        else:
            component, operation, success, duration = args
            assert isinstance(success, bool)
            metrics.observe_component(
                component=component,
                block="state",
                operation=operation,
                success=success,
                duration=duration,
            )
            reference.component(component, operation, success, duration)

    body, _ = metrics.render(accept)
    ours, theirs = body.decode(), reference.render(accept)
    assert comparable(ours, accept) == comparable(theirs, accept)
    # byte for byte, clock times aside: the hot families come first, in the same order, and
    # the other building blocks' families (no samples yet) follow
    hot = masked(theirs).removesuffix("# EOF\n")
    assert hot.count("_bucket{") >= 40
    assert masked(ours).startswith(hot)
    assert ("_created" in ours) is created


# ---------------------------------------------------------------------------------------------
# Threads: recording on one thread, scraping on another


def test_scrape_from_another_thread_while_recording() -> None:
    metrics = Metrics("a", process_metrics=False)
    stop = threading.Event()
    errors: list[BaseException] = []

    def scrape() -> None:
        try:
            while not stop.is_set():
                families(metrics)
        except BaseException as exc:  # reported below
            errors.append(exc)

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        for i in range(20_000):  # new series appear while the scraper iterates
            metrics.observe_http(method="GET", path=f"/r{i % 200}", status=200, duration=0.001)
            metrics.observe_component(
                component=f"c{i % 50}", block="state", operation="get", success=True, duration=0.1
            )
    finally:
        stop.set()
        scraper.join()
    assert errors == []
    got = samples(metrics)
    assert (
        got[
            (
                "tandem_http_server_requests_total",
                labels(app_id="a", method="GET", path="/r7", status="200"),
            )
        ]
        == 100
    )
    component = {"app_id": "a", "component": "c7", "block": "state", "operation": "get"}
    assert buckets(got, "tandem_component_latency_seconds", **component)[-1] == ("+Inf", 400.0)
