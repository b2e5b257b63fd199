"""The CloudEvent envelope Tandem builds around a published body (Dapr's rules, dapr-api a.3)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from runtime.services.pubsub_envelope import EnvelopeError, build_envelope


def envelope(data: bytes, content_type: str = "", **metadata: str) -> dict[str, Any]:
    raw = build_envelope(
        data,
        content_type=content_type,
        topic="orders",
        pubsub="pubsub",
        source="checkout",
        metadata=metadata,
    )
    doc: dict[str, Any] = json.loads(raw)
    return doc


def test_generated_envelope_has_daprs_fields() -> None:
    event = envelope(b'{"a": 1}', "application/json")
    assert event["data"] == {"a": 1}
    assert event["source"] == "checkout"
    assert event["type"] == "com.dapr.event.sent"
    assert event["specversion"] == "1.0"
    assert event["datacontenttype"] == "application/json"
    assert (event["topic"], event["pubsubname"]) == ("orders", "pubsub")
    assert event["traceid"] == event["traceparent"]
    assert event["traceparent"].endswith("-00")  # no caller context: a fresh unsampled one
    assert event["tracestate"] == ""


def test_json_numbers_are_kept_exactly() -> None:
    body = b'{"big": 123456789012345678901234567890, "f": 1.10}'
    raw = build_envelope(
        body, content_type="application/json", topic="t", pubsub="p", source="s", metadata={}
    )
    assert body in raw


@pytest.mark.parametrize(
    ("content_type", "body", "field", "value"),
    [
        ("", b"hello", "data", "hello"),
        ("text/plain", b"hello", "data", "hello"),
        ("application/json", b"not json", "data", "not json"),
        ("application/vnd.api+json", b"[1]", "data", [1]),
        ("application/octet-stream", b"\x00\x01", "data_base64", "AAE="),
        ("text/plain", b"\xff\xfe", "data_base64", base64.b64encode(b"\xff\xfe").decode()),
    ],
)
def test_payload_by_content_type(content_type: str, body: bytes, field: str, value: Any) -> None:
    event = envelope(body, content_type)
    assert event[field] == value
    assert event["datacontenttype"] == (content_type or "text/plain")


def test_user_cloudevent_is_kept_and_completed() -> None:
    user = {"id": "u1", "data": {"x": 1}, "ext": "kept", "topic": "forged", "pubsubname": "x"}
    event = envelope(json.dumps(user).encode(), "application/cloudevents+json; charset=utf-8")
    assert (event["id"], event["data"], event["ext"]) == ("u1", {"x": 1}, "kept")
    assert (event["topic"], event["pubsubname"]) == ("orders", "pubsub")
    assert event["source"] == "Dapr"
    assert event["type"] == "com.dapr.event.sent"
    assert event["specversion"] == "1.0"


@pytest.mark.parametrize("body", [b"{bad", b"[1, 2]", b'"text"', b""])
def test_user_cloudevent_must_be_a_json_object(body: bytes) -> None:
    with pytest.raises(EnvelopeError):
        envelope(body, "application/cloudevents+json")


def test_overrides_and_expiration() -> None:
    raw = build_envelope(
        b"x",
        content_type="text/plain",
        topic="t",
        pubsub="p",
        source="s",
        metadata={"cloudevent.id": "fixed", "cloudevent.subject": "subj", "other": "ignored"},
        expiration=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    event = json.loads(raw)
    assert (event["id"], event["subject"]) == ("fixed", "subj")
    assert event["expiration"] == "2030-01-02T03:04:05Z"
    assert "other" not in event
