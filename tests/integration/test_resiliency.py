"""Resiliency policies on a real sidecar, against a private redis-server it may pause.

The shared Redis on 6379 is never touched: each test starts its own ``redis-server`` on a free
port and freezes it with SIGSTOP (the port stays open, commands hang), which is what a hung
backend looks like. Attempts, retries, timeouts, refusals and the breaker state are read from
the sidecar's Prometheus metrics; nothing here asserts a duration.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.brokers.private import private_redis
from tests.integration.harness import Sidecar, component_yaml, free_port, run_tandem, wait_until

pytestmark = pytest.mark.integration

STORE = "statestore"
TARGET = f"components.{STORE}.outbound"


def resiliency_yaml(retry: dict[str, object], breaker: dict[str, object]) -> str:
    doc = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Resiliency",
        "metadata": {"name": "storeresiliency"},
        "scopes": ["resapp"],
        "spec": {
            "policies": {
                "timeouts": {"short": "300ms"},
                "retries": {"retry": retry},
                "circuitBreakers": {"cb": breaker},
            },
            "targets": {
                "components": {
                    STORE: {
                        "outbound": {"timeout": "short", "retry": "retry", "circuitBreaker": "cb"}
                    }
                }
            },
        },
    }
    return json.dumps(doc, indent=2) + "\n"


@contextmanager
def sidecar(tmp_path: Path, redis_port: int, resiliency: str) -> Iterator[tuple[Sidecar, int]]:
    metrics_port = free_port()
    store = component_yaml(
        STORE,
        "state.redis",
        {"redisHost": f"127.0.0.1:{redis_port}", "readTimeout": "10s", "dialTimeout": "10s"},
    )
    with Sidecar.start(
        tmp_path,
        app_id="resapp",
        components=[store, resiliency],
        args=["--metrics-port", str(metrics_port)],
    ) as sc:
        yield sc, metrics_port


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "app_id"))
            out[(s.name, labels)] = s.value
    return out


def metric(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


def failed_attempts(port: int) -> float:
    return metric(
        scrape(port),
        "tandem_component_operations_total",
        component=STORE,
        operation="get",
        success="false",
    )


def test_pause_times_out_retries_opens_breaker_then_recovers(tmp_path: Path) -> None:
    res = resiliency_yaml(
        retry={"policy": "constant", "duration": "50ms", "maxRetries": 2},
        breaker={"maxRequests": 1, "timeout": "3s", "trip": "consecutiveFailures >= 4"},
    )
    with private_redis(tmp_path) as redis, sidecar(tmp_path, redis.port, res) as (sc, mport):
        assert sc.request("POST", f"/v1.0/state/{STORE}", '[{"key":"k","value":1}]').status == 204
        assert sc.request("GET", f"/v1.0/state/{STORE}/k").status == 200
        redis.pause()
        try:
            # 1st call: three attempts (1 + 2 retries), each cut by the 300ms timeout
            first = sc.request("GET", f"/v1.0/state/{STORE}/k")
            assert first.status == 500
            assert first.json()["errorCode"] == "ERR_STATE_GET"
            m = scrape(mport)
            assert metric(m, "tandem_resiliency_timeouts_total", target=TARGET) == 3
            assert metric(m, "tandem_resiliency_retries_total", target=TARGET) == 2
            # 2nd call: its first timeout is the 4th consecutive failure → the breaker opens;
            # the retry that follows is refused at once and not retried
            second = sc.request("GET", f"/v1.0/state/{STORE}/k")
            assert second.status == 500
            assert "circuit breaker is open" in second.json()["message"]
            m = scrape(mport)
            assert metric(m, "tandem_circuit_breaker_state", target=TARGET) == 2  # open
            assert metric(m, "tandem_resiliency_timeouts_total", target=TARGET) == 4
            retries_when_open = metric(m, "tandem_resiliency_retries_total", target=TARGET)
            # while open: calls fail fast, never reach the store, never retry
            for _ in range(3):
                assert sc.request("GET", f"/v1.0/state/{STORE}/k").status == 500
            m = scrape(mport)
            assert metric(m, "tandem_resiliency_retries_total", target=TARGET) == retries_when_open
            assert metric(m, "tandem_resiliency_breaker_rejections_total", target=TARGET) == 4
            assert (
                metric(
                    m,
                    "tandem_component_operations_total",
                    component=STORE,
                    operation="get",
                    success="false",
                )
                == 4
            )
        finally:
            redis.resume()
        # after the breaker's 3s timeout a half-open probe goes through and closes it
        assert wait_until(lambda: sc.request("GET", f"/v1.0/state/{STORE}/k").status == 200, 15.0)
        got = sc.request("GET", f"/v1.0/state/{STORE}/k")
        assert got.status == 200
        assert got.body == b"1"
        states = scrape(mport)
        assert metric(states, "tandem_circuit_breaker_state", target=TARGET) == 0  # closed
        logs = sc.logs()
        assert f"circuit breaker cb of {TARGET} is now open" in logs
        assert f"circuit breaker cb of {TARGET} is now closed" in logs
        assert "Traceback" not in logs


def test_unlimited_retries_are_bounded_by_the_breaker(tmp_path: Path) -> None:
    """16 callers, unlimited retries, a hung store: the breaker ends the storm. Every call
    fails (none hangs), and the store sees at most one attempt per caller plus the trip
    threshold, where unlimited retries without a breaker would go on for as long as the outage."""
    callers = 16
    res = resiliency_yaml(
        retry={"policy": "exponential", "maxInterval": "100ms", "maxRetries": -1},
        breaker={"maxRequests": 1, "timeout": "30s", "trip": "consecutiveFailures >= 3"},
    )
    with private_redis(tmp_path) as redis, sidecar(tmp_path, redis.port, res) as (sc, mport):
        assert sc.request("POST", f"/v1.0/state/{STORE}", '[{"key":"k","value":1}]').status == 204
        redis.pause()
        try:
            with ThreadPoolExecutor(callers) as pool:
                statuses = list(
                    pool.map(
                        lambda _: sc.request("GET", f"/v1.0/state/{STORE}/k", timeout=30).status,
                        range(callers),
                    )
                )
        finally:
            redis.resume()
        assert statuses == [500] * callers
        m = scrape(mport)
        attempts = metric(
            m,
            "tandem_component_operations_total",
            component=STORE,
            operation="get",
            success="false",
        )
        # callers that arrive after the breaker opened never reach the store at all
        assert 3 <= attempts <= callers + 3
        assert metric(m, "tandem_resiliency_breaker_rejections_total", target=TARGET) >= callers
        assert metric(m, "tandem_circuit_breaker_state", target=TARGET) == 2


def test_invalid_resiliency_is_reported_by_validate_and_stops_start_up(tmp_path: Path) -> None:
    bad = resiliency_yaml(
        retry={"policy": "linear", "matching": {"httpStatusCodes": "500-700"}},
        breaker={"trip": "consecutiveFailures >"},
    )
    folder = tmp_path / "resources"
    folder.mkdir()
    (folder / "resiliency.yaml").write_text(bad)
    out = run_tandem(["validate", "--resources-path", str(folder)], home=tmp_path)
    assert out.returncode != 0
    assert "3 configuration error(s)" in out.stderr
    for path in (
        "spec.policies.retries.retry.policy",
        "spec.policies.retries.retry.matching.httpStatusCodes",
        "spec.policies.circuitBreakers.cb.trip",
    ):
        assert f"resiliency.yaml (document 1) {path}:" in out.stderr
    sc = Sidecar.spawn(tmp_path, app_id="resapp", components=[bad])
    code = sc.wait_exit()
    assert code != 0
    assert "spec.policies.circuitBreakers.cb.trip" in sc.logs()


def test_secret_store_calls_run_under_their_policies(tmp_path: Path) -> None:
    """``components.<secret store>.outbound`` applies to secret reads: a hung backend's call is
    cut by the timeout and retried, then answered with the secrets API's own error."""
    target = "components.vault.outbound"
    doc = json.loads(
        resiliency_yaml(
            retry={"policy": "constant", "duration": "50ms", "maxRetries": 2}, breaker={}
        )
    )
    doc["spec"]["policies"].pop("circuitBreakers")
    doc["spec"]["targets"]["components"] = {
        "vault": {"outbound": {"timeout": "short", "retry": "retry"}}
    }
    with private_redis(tmp_path / "redis") as redis:
        vault = component_yaml(
            "vault",
            "secretstores.redis",
            {
                "redisHost": f"127.0.0.1:{redis.port}",
                "prefix": "secrets:",
                "readTimeout": "10s",
                "dialTimeout": "10s",
            },
        )
        metrics_port = free_port()
        with Sidecar.start(
            tmp_path,
            app_id="resapp",
            components=[vault, json.dumps(doc) + "\n"],
            args=["--metrics-port", str(metrics_port)],
        ) as sc:
            assert sc.request("GET", "/v1.0/secrets/vault/missing").status in (204, 404, 500)
            redis.pause()
            try:
                r = sc.request("GET", "/v1.0/secrets/vault/k")
                assert r.status == 500, r.body
                assert r.json()["errorCode"] == "ERR_SECRET_GET"
                m = scrape(metrics_port)
                assert metric(m, "tandem_resiliency_timeouts_total", target=target) == 3
                assert metric(m, "tandem_resiliency_retries_total", target=target) == 2
            finally:
                redis.resume()
            assert "Traceback" not in sc.logs()
