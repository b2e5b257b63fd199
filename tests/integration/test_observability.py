"""Traces, metrics and log correlation through a real sidecar process.

A test OTLP receiver stands in for the collector; ``/metrics`` is parsed with the Prometheus
text parser; logs are read from the sidecar's own output.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from protos.dapr.runtime.v1 import dapr_pb2_grpc, state_pb2
from tests.integration.harness import Sidecar, free_port, wait_until
from tests.otlp_receiver import ReceivedSpan, ThreadedOtlpReceiver, tracing_config

pytestmark = pytest.mark.integration

MEMORY = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.in-memory
  version: v1
"""

SERVER, INTERNAL = 2, 1  # OTLP SpanKind values


def _request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> int:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def _traceparent() -> tuple[str, str, str]:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent, f"00-{trace_id}-{parent}-01"


@pytest.fixture(scope="module")
def receiver() -> Iterator[ThreadedOtlpReceiver]:
    with ThreadedOtlpReceiver(http=True) as r:
        yield r


@pytest.fixture(scope="module")
def traced(
    tmp_path_factory: pytest.TempPathFactory, receiver: ThreadedOtlpReceiver
) -> Iterator[tuple[Sidecar, int]]:
    tmp = tmp_path_factory.mktemp("traced")
    metrics_port = free_port()
    config = tracing_config(tmp, receiver.grpc_endpoint, "grpc")
    args = [
        "--config",
        str(config),
        "--metrics-port",
        str(metrics_port),
        "--log-as-json",
        "--enable-api-logging",
    ]
    with Sidecar.start(tmp, components=[MEMORY], app_id="traced", args=args) as sc:
        yield sc, metrics_port


def _one(spans: list[ReceivedSpan], name: str, trace_id: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name and s.trace_id == trace_id]
    assert len(found) == 1, f"expected one {name!r} span in trace {trace_id}: {spans}"
    return found[0]


def test_http_state_call_is_one_trace_with_component_child(
    traced: tuple[Sidecar, int], receiver: ThreadedOtlpReceiver
) -> None:
    sc, _ = traced
    trace_id, parent, header = _traceparent()
    status = _request(
        "POST",
        f"{sc.http_url}/v1.0/state/statestore",
        b'[{"key":"k","value":1}]',
        {"traceparent": header},
    )
    assert status == 204
    spans = receiver.wait_for_spans(lambda s: s.trace_id == trace_id, count=2)
    api = _one(spans, "POST /v1.0/state/{storeName}", trace_id)
    comp = _one(spans, "state/set", trace_id)
    assert api.kind == SERVER
    assert api.parent_span_id == parent
    assert comp.parent_span_id == api.span_id
    assert comp.attributes.get("tandem.component") == "statestore"
    assert api.resource.get("service.name") == "traced"


def test_grpc_state_call_is_one_trace_with_component_child(
    traced: tuple[Sidecar, int], receiver: ThreadedOtlpReceiver
) -> None:
    sc, _ = traced
    trace_id, parent, header = _traceparent()
    with grpc.insecure_channel(sc.grpc_target) as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        stub.GetState(
            state_pb2.GetStateRequest(store_name="statestore", key="k"),
            metadata=(("traceparent", header),),
            timeout=5,
        )
    spans = receiver.wait_for_spans(lambda s: s.trace_id == trace_id, count=2)
    api = _one(spans, "/dapr.proto.runtime.v1.Dapr/GetState", trace_id)
    comp = _one(spans, "state/get", trace_id)
    assert api.parent_span_id == parent
    assert comp.parent_span_id == api.span_id


def test_failed_component_call_marks_span_as_error(
    traced: tuple[Sidecar, int], receiver: ThreadedOtlpReceiver
) -> None:
    sc, _ = traced
    trace_id, _, header = _traceparent()
    body = b'[{"key":"k","value":2,"etag":"999999"}]'
    assert (
        _request("POST", f"{sc.http_url}/v1.0/state/statestore", body, {"traceparent": header})
        == 409
    )
    spans = receiver.wait_for_spans(lambda s: s.trace_id == trace_id, count=2)
    assert _one(spans, "state/set", trace_id).status_code == 2
    api = _one(spans, "POST /v1.0/state/{storeName}", trace_id)
    # a 4xx is the caller's error: the server span records the status, not an error status
    assert api.attributes.get("http.response.status_code") == 409
    assert api.status_code != 2


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        v
        for (n, ls), v in samples.items()
        if n == name and all(dict(ls).get(k) == want for k, want in labels.items())
    )


def test_metrics_count_known_traffic(traced: tuple[Sidecar, int]) -> None:
    sc, port = traced
    before = _samples(port)
    for i in range(3):
        assert (
            _request(
                "POST",
                f"{sc.http_url}/v1.0/state/statestore",
                f'[{{"key":"m{i}","value":{i}}}]'.encode(),
            )
            == 204
        )
    for i in range(2):
        assert _request("GET", f"{sc.http_url}/v1.0/state/statestore/m{i}") == 200
    assert _request("GET", f"{sc.http_url}/v1.0/state/nostore/x") == 400
    after = _samples(port)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    route = "/v1.0/state/{storeName}"
    assert delta("tandem_http_server_requests_total", method="POST", path=route, status="204") == 3
    assert (
        delta(
            "tandem_http_server_requests_total", method="GET", path=route + "/{key}", status="200"
        )
        == 2
    )
    assert (
        delta(
            "tandem_http_server_requests_total", method="GET", path=route + "/{key}", status="400"
        )
        == 1
    )
    assert (
        delta(
            "tandem_component_operations_total",
            component="statestore",
            operation="set",
            success="true",
        )
        == 3
    )
    assert (
        delta(
            "tandem_component_operations_total",
            component="statestore",
            operation="get",
            success="true",
        )
        == 2
    )
    assert delta("tandem_http_server_latency_seconds_count", method="POST", path=route) == 3
    # bounded cardinality: no raw keys or store names from requests appear as labels
    assert not any("nostore" in str(ls) or "m1" in dict(ls).values() for _, ls in after)
    assert _value(after, "process_resident_memory_bytes") > 0


def test_log_lines_inside_a_request_carry_the_trace_id(traced: tuple[Sidecar, int]) -> None:
    sc, _ = traced
    trace_id, _, header = _traceparent()
    assert _request(
        "GET", f"{sc.http_url}/v1.0/state/statestore/k", headers={"traceparent": header}
    ) in (200, 204)

    def logged() -> bool:
        for line in sc.logs().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("trace_id") == trace_id and "HTTP API called" in rec.get("msg", ""):
                return True
        return False

    assert wait_until(logged, 5.0), sc.logs()[-2000:]


def test_otlp_over_http_protocol(tmp_path: Path, receiver: ThreadedOtlpReceiver) -> None:
    config = tracing_config(tmp_path, receiver.http_endpoint, "http")
    with Sidecar.start(
        tmp_path, components=[MEMORY], app_id="tracedhttp", args=["--config", str(config)]
    ) as sc:
        trace_id, _, header = _traceparent()
        assert (
            _request(
                "GET", f"{sc.http_url}/v1.0/state/statestore/x", headers={"traceparent": header}
            )
            == 204
        )
        spans = receiver.wait_for_spans(lambda s: s.trace_id == trace_id, count=2)
    assert {s.transport for s in spans} == {"http"}
    assert {s.name for s in spans} == {"GET /v1.0/state/{storeName}/{key}", "state/get"}


def test_collector_down_does_not_block_requests(tmp_path: Path) -> None:
    config = tracing_config(tmp_path, f"127.0.0.1:{free_port()}", "grpc")
    with Sidecar.start(
        tmp_path, components=[MEMORY], app_id="nocollector", args=["--config", str(config)]
    ) as sc:
        # every request is answered (each within the client's timeout) while exports fail
        for i in range(200):
            assert (
                _request(
                    "POST",
                    f"{sc.http_url}/v1.0/state/statestore",
                    f'[{{"key":"c{i}","value":{i}}}]'.encode(),
                )
                == 204
            )
