"""One trace from the publisher through the broker to the subscriber: the API's SERVER span,
a PRODUCER span around the publish (its ``traceparent`` goes into the CloudEvent) and the
delivery's CONSUMER span under it, whose context the app receives."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Sidecar, component_yaml, free_port, wait_until
from tests.integration.pubsub.apps import pubsub_app
from tests.otlp_receiver import ReceivedSpan, ThreadedOtlpReceiver

pytestmark = pytest.mark.integration

SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP SpanKind values


@pytest.fixture(scope="module")
def traced(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Sidecar, Path, ThreadedOtlpReceiver]]:
    tmp = tmp_path_factory.mktemp("pubsub-traced")
    with ThreadedOtlpReceiver() as receiver:
        config = tmp / "config.yaml"
        config.write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: t\n"
            "spec:\n  tracing:\n    samplingRate: '1'\n    otel:\n"
            f"      endpointAddress: '{receiver.grpc_endpoint}'\n      protocol: grpc\n"
            "      isSecure: false\n"
        )
        subs, events, port = tmp / "subs.json", tmp / "events.jsonl", free_port()
        subs.write_text(json.dumps([{"pubsubname": "pubsub", "topic": "t", "route": "/t"}]))
        with Sidecar.start(
            tmp,
            app_id="traced-pubsub",
            components=[component_yaml("pubsub", "pubsub.in-memory")],
            args=["--config", str(config), "--app-port", str(port)],
            app_command=pubsub_app("http_subscriber", port, subs, events),
        ) as sidecar:
            sidecar.wait_ready()
            assert wait_until(lambda: "subscribed to" in sidecar.logs(), 20), sidecar.logs()
            yield sidecar, events, receiver


def _one(spans: list[ReceivedSpan], kind: int) -> ReceivedSpan:
    found = [s for s in spans if s.kind == kind]
    assert len(found) == 1, spans
    return found[0]


def test_publish_and_delivery_are_one_trace(
    traced: tuple[Sidecar, Path, ThreadedOtlpReceiver],
) -> None:
    sidecar, events, receiver = traced
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    r = sidecar.request(
        "POST",
        "/v1.0/publish/pubsub/t",
        json.dumps({"trace": trace_id}),
        {"Content-Type": "application/json", "traceparent": f"00-{trace_id}-{parent}-01"},
    )
    assert r.status == 204, r.text
    spans = receiver.wait_for_spans(
        lambda s: s.trace_id == trace_id and s.kind in (SERVER, PRODUCER, CONSUMER), count=3
    )
    server, producer, consumer = _one(spans, SERVER), _one(spans, PRODUCER), _one(spans, CONSUMER)
    assert server.parent_span_id == parent
    assert producer.parent_span_id == server.span_id
    assert consumer.parent_span_id == producer.span_id
    assert wait_until(lambda: events.exists() and trace_id in events.read_text(), 10)
    delivery = next(
        json.loads(line) for line in events.read_text().splitlines() if trace_id in line
    )
    assert delivery["body"]["traceparent"].split("-")[2] == producer.span_id
    assert delivery["headers"]["traceparent"].split("-")[2] == consumer.span_id
