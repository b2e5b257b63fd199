from __future__ import annotations

import socket

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from runtime.observability.metrics import Metrics, metrics_app, serve_metrics
from tests.integration.harness import free_port


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    result: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            result[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return result


def labels(**kwargs: str) -> frozenset[tuple[str, str]]:
    return frozenset(kwargs.items())


def test_http_counters_and_histogram() -> None:
    metrics = Metrics("orders")
    route = "/v1.0/state/{storeName}/{key}"
    for _ in range(3):
        metrics.observe_http(method="GET", path=route, status=200, duration=0.002)
    metrics.observe_http(method="GET", path=route, status=404, duration=0.0005)
    metrics.observe_http(method="BREW", path="unmatched", status=405, duration=0.0001)

    got = samples(metrics)
    base = {"app_id": "orders", "method": "GET", "path": route}
    assert got[("tandem_http_server_requests_total", labels(**base, status="200"))] == 3
    assert got[("tandem_http_server_requests_total", labels(**base, status="404"))] == 1
    other = labels(app_id="orders", method="OTHER", path="unmatched", status="405")
    assert got[("tandem_http_server_requests_total", other)] == 1
    assert got[("tandem_http_server_latency_seconds_count", labels(**base))] == 4
    assert got[("tandem_http_server_latency_seconds_bucket", labels(**base, le="0.001"))] == 1
    assert got[("tandem_http_server_latency_seconds_bucket", labels(**base, le="0.0001"))] == 0
    assert got[("tandem_http_server_latency_seconds_bucket", labels(**base, le="10.0"))] == 4
    assert abs(got[("tandem_http_server_latency_seconds_sum", labels(**base))] - 0.0065) < 1e-9


def test_grpc_and_component_metrics() -> None:
    metrics = Metrics("orders")
    method = "/dapr.proto.runtime.v1.Dapr/GetState"
    metrics.observe_grpc(method=method, status="OK", duration=0.001)
    metrics.observe_grpc(method=method, status="NOT_FOUND", duration=0.001)
    metrics.observe_component(
        component="statestore", block="state", operation="get", success=True, duration=0.01
    )
    metrics.observe_component(
        component="statestore", block="state", operation="get", success=False, duration=0.02
    )
    metrics.observe_component(
        component="statestore", block="state", operation="get", success=True, duration=0.01
    )

    got = samples(metrics)
    assert (
        got[
            (
                "tandem_grpc_server_requests_total",
                labels(app_id="orders", method=method, status="OK"),
            )
        ]
        == 1
    )
    assert (
        got[
            (
                "tandem_grpc_server_requests_total",
                labels(app_id="orders", method=method, status="NOT_FOUND"),
            )
        ]
        == 1
    )
    assert (
        got[("tandem_grpc_server_latency_seconds_count", labels(app_id="orders", method=method))]
        == 2
    )
    comp = {"app_id": "orders", "component": "statestore", "block": "state", "operation": "get"}
    assert got[("tandem_component_operations_total", labels(**comp, success="true"))] == 2
    assert got[("tandem_component_operations_total", labels(**comp, success="false"))] == 1
    assert got[("tandem_component_latency_seconds_count", labels(**comp))] == 3


def test_app_id_override_per_call() -> None:
    metrics = Metrics("default")
    metrics.observe_http(method="GET", path="/x", status=200, duration=0.0, app_id="other")
    got = samples(metrics)
    key = labels(app_id="other", method="GET", path="/x", status="200")
    assert got[("tandem_http_server_requests_total", key)] == 1


def test_placeholder_metrics_have_stable_names() -> None:
    metrics = Metrics("a")
    metrics.pubsub_published.labels("a", "pubsub", "orders", "true").inc()
    metrics.pubsub_delivered.labels("a", "pubsub", "orders", "success").inc()
    metrics.pubsub_retries.labels("a", "pubsub", "orders").inc()
    metrics.pubsub_dropped.labels("a", "pubsub", "orders").inc()
    metrics.pubsub_deadletter.labels("a", "pubsub", "orders").inc()
    metrics.observe_invocation(target_app="b", status=200, duration=0.01)
    metrics.set_circuit_breaker_state("b", "open")

    names = {name for name, _ in samples(metrics)}
    assert {
        "tandem_pubsub_published_total",
        "tandem_pubsub_delivered_total",
        "tandem_pubsub_retries_total",
        "tandem_pubsub_dropped_total",
        "tandem_pubsub_deadletter_total",
        "tandem_invocation_requests_total",
        "tandem_invocation_latency_seconds_count",
        "tandem_circuit_breaker_state",
    } <= names
    got = samples(metrics)
    assert got[("tandem_circuit_breaker_state", labels(app_id="a", target="b"))] == 2


def test_process_metrics_on_own_registry() -> None:
    metrics = Metrics("a")
    names = {name for name, _ in samples(metrics)}
    assert "process_cpu_seconds_total" in names
    assert "process_resident_memory_bytes" in names
    # nothing leaks into the global registry, and several instances coexist
    Metrics("b")
    assert REGISTRY.get_sample_value("tandem_http_server_requests_total") is None
    assert "process_cpu_seconds_total" not in {
        name for name, _ in samples(Metrics("c", process_metrics=False))
    }


def test_openmetrics_negotiation() -> None:
    metrics = Metrics("a")
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


async def test_metrics_app_serves_metrics() -> None:
    metrics = Metrics("orders")
    metrics.observe_http(method="GET", path="/v1.0/healthz", status=204, duration=0.0)
    async with TestClient(TestServer(metrics_app(metrics))) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
        assert 'tandem_http_server_requests_total{app_id="orders"' in text
        assert (await client.get("/other")).status == 404


async def _scrape(host: str, port: int) -> int:
    from aiohttp import ClientSession

    async with ClientSession() as session, session.get(f"http://{host}:{port}/metrics") as r:
        assert "process_cpu_seconds_total" in await r.text()
        return r.status


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_serve_metrics_on_a_port() -> None:
    runner = await serve_metrics(Metrics("a"), addresses=["127.0.0.1"], port=0)
    try:
        host, port = runner.addresses[0][:2]
        assert await _scrape(host, port) == 200
    finally:
        await runner.cleanup()


async def test_serve_metrics_binds_only_the_listen_addresses() -> None:
    """Like the APIs: each given address, and no other interface (127.0.0.2 is loopback too,
    so it answers only if the server bound every interface)."""
    port = free_port()
    runner = await serve_metrics(Metrics("a"), addresses=["127.0.0.1", "127.0.0.3"], port=port)
    try:
        assert sorted(a[:2] for a in runner.addresses) == [("127.0.0.1", port), ("127.0.0.3", port)]
        assert await _scrape("127.0.0.1", port) == 200
        assert await _scrape("127.0.0.3", port) == 200
        assert _refused("127.0.0.2", port)
    finally:
        await runner.cleanup()


async def test_serve_metrics_has_no_all_interfaces_default() -> None:
    with pytest.raises(TypeError, match="addresses"):
        await serve_metrics(Metrics("a"), port=0)  # type: ignore[call-arg]


async def test_serve_metrics_names_the_address_it_cannot_bind() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"cannot listen on 127\.0\.0\.1:{port} for metrics"):
            await serve_metrics(Metrics("a"), addresses=["127.0.0.3", "127.0.0.1"], port=port)
        assert _refused("127.0.0.3", port)  # the address bound first was released


def test_custom_latency_buckets() -> None:
    metrics = Metrics("a", latency_buckets=[0.001, 0.1])
    metrics.observe_component(
        component="c", block="state", operation="get", success=True, duration=0.05
    )
    bounds = {
        dict(key)["le"]
        for name, key in samples(metrics)
        if name == "tandem_component_latency_seconds_bucket"
    }
    assert bounds == {"0.001", "0.1", "+Inf"}
