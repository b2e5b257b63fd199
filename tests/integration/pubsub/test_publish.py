"""Publishing over HTTP and gRPC (twins: every case runs on both), observed at an HTTP app.

The app receives Dapr's CloudEvent envelope (dapr-api.md a.3): ``id``, ``source`` (the
publisher's app id), ``type``, ``specversion``, ``datacontenttype``, ``topic``, ``pubsubname``,
``traceid``/``traceparent``/``tracestate`` and ``data`` or ``data_base64``; a user CloudEvent is
kept and completed; ``cloudevent.*`` metadata overrides fields; ``rawPayload`` skips the
envelope; bulk entries all arrive.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.pubsub._clients import Entry, GrpcPublisher, HttpPublisher, Publisher
from tests.integration.pubsub._support import APP_ID, PUBSUB, PubSubEnv, tagged

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(params=["http", "grpc"])
def publisher(request: pytest.FixtureRequest, env: PubSubEnv) -> Iterator[Publisher]:
    if request.param == "http":
        yield HttpPublisher(env)
    else:
        client = GrpcPublisher(env)
        yield client
        client.close()


def _one(env: PubSubEnv, marker: str, path: str = "/events") -> dict[str, Any]:
    (delivery,) = env.wait(lambda d: d["path"] == path and tagged(marker)(d))
    assert delivery["content_type"] == "application/cloudevents+json"
    event: dict[str, Any] = delivery["body"]
    return event


def test_json_event_arrives_in_daprs_envelope(env: PubSubEnv, publisher: Publisher) -> None:
    marker = env.marker()
    data = {"marker": marker, "big": 12345678901234567890, "nested": {"list": [1, "two"]}}
    publisher.publish("events", json.dumps(data).encode(), "application/json")
    event = _one(env, marker)
    assert event["data"] == data
    assert event["datacontenttype"] == "application/json"
    assert event["source"] == APP_ID
    assert event["type"] == "com.dapr.event.sent"
    assert event["specversion"] == "1.0"
    assert event["topic"] == "events"
    assert event["pubsubname"] == PUBSUB
    assert len(event["id"]) == 36  # a UUID
    assert event["traceid"] == event["traceparent"]
    assert event["traceparent"].startswith("00-")
    assert "tracestate" in event


def test_text_event_is_a_string_and_defaults_to_text_plain(
    env: PubSubEnv, publisher: Publisher
) -> None:
    marker = env.marker()
    publisher.publish("events", f"plain {marker}".encode())
    event = _one(env, marker)
    assert event["data"] == f"plain {marker}"
    assert event["datacontenttype"] == "text/plain"


def test_octet_stream_event_is_base64(env: PubSubEnv, publisher: Publisher) -> None:
    marker = env.marker()
    raw = b"\x00\xff" + marker.encode()
    publisher.publish("events", raw, "application/octet-stream")
    (delivery,) = env.wait(
        lambda d: (
            d["path"] == "/events" and base64.b64decode(d["body"].get("data_base64", "")) == raw
        )
    )
    assert "data" not in delivery["body"]
    assert delivery["body"]["datacontenttype"] == "application/octet-stream"


def test_user_cloudevent_is_kept_and_completed(env: PubSubEnv, publisher: Publisher) -> None:
    marker = env.marker()
    user = {
        "id": f"user-{marker}",
        "source": "my-source",
        "type": "my.type",
        "datacontenttype": "application/json",
        "data": {"marker": marker, "price": 1.5},
        "myextension": "kept",
        "topic": "forged",
    }
    publisher.publish("events", json.dumps(user).encode(), "application/cloudevents+json")
    event = _one(env, marker)
    for name in ("id", "source", "type", "data", "myextension"):
        assert event[name] == user[name]
    assert event["topic"] == "events"  # overwritten
    assert event["pubsubname"] == PUBSUB
    assert event["specversion"] == "1.0"  # filled in
    assert event["traceid"] == event["traceparent"]


def test_cloudevent_metadata_overrides_the_envelope(env: PubSubEnv, publisher: Publisher) -> None:
    marker = env.marker()
    publisher.publish(
        "events",
        json.dumps({"marker": marker}).encode(),
        "application/json",
        metadata={
            "cloudevent.id": f"id-{marker}",
            "cloudevent.source": "overridden-source",
            "cloudevent.type": "overridden.type",
            "cloudevent.subject": "a-subject",
        },
    )
    event = _one(env, marker)
    assert event["id"] == f"id-{marker}"
    assert event["source"] == "overridden-source"
    assert event["type"] == "overridden.type"
    assert event["subject"] == "a-subject"


def test_raw_payload_is_delivered_unwrapped(env: PubSubEnv, publisher: Publisher) -> None:
    marker = env.marker()
    raw = json.dumps({"marker": marker, "not": "an envelope"}).encode()
    publisher.publish("raw", raw, "application/json", metadata={"rawPayload": "true"})
    (delivery,) = env.wait(
        lambda d: (
            d["path"] == "/raw"
            and marker.encode() in base64.b64decode(d["body"].get("data_base64", ""))
        )
    )
    event = delivery["body"]
    assert base64.b64decode(event["data_base64"]) == raw  # byte for byte, no envelope
    assert event["datacontenttype"] == "application/octet-stream"
    assert event["topic"] == "raw"


def test_bulk_publish_delivers_every_entry(env: PubSubEnv, publisher: Publisher) -> None:
    marker = env.marker()
    entries = [Entry(str(n), json.dumps({"marker": marker, "n": n}).encode()) for n in range(4)] + [
        Entry("text", f"text {marker}".encode(), "text/plain")
    ]
    assert publisher.bulk("events", entries) == []
    found = env.wait(lambda d: d["path"] == "/events" and tagged(marker)(d), count=5)
    datas = [d["body"]["data"] for d in found]
    assert sorted(d["n"] for d in datas if isinstance(d, dict)) == [0, 1, 2, 3]
    assert f"text {marker}" in datas


def test_trace_context_joins_publisher_and_subscriber(env: PubSubEnv, publisher: Publisher) -> None:
    marker = env.marker()
    publisher.publish(
        "events",
        json.dumps({"marker": marker}).encode(),
        "application/json",
        headers={"traceparent": TRACEPARENT},
    )
    (delivery,) = env.wait(lambda d: d["path"] == "/events" and tagged(marker)(d))
    assert TRACE_ID in delivery["body"]["traceparent"]
    assert TRACE_ID in delivery["headers"]["traceparent"]
