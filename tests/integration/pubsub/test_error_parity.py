"""The same bad publish reports the same error over HTTP and gRPC, and publishes nothing.

Same ``errorCode`` (gRPC: ErrorInfo metadata), message, details (ErrorInfo, ResourceInfo), and
an HTTP status / gRPC code pair of one error-table entry. Bad input is always a 4xx.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runtime.errors import TABLE
from runtime.services import pubsub_errors  # noqa: F401  (registers the pub/sub entries)
from tests.integration.harness import Response, comparable_detail
from tests.integration.pubsub._clients import Entry, GrpcPublisher, HttpPublisher, PublishFailed
from tests.integration.pubsub._support import SCOPED, PubSubEnv, tagged
from tests.integration.state._grpc import RpcFailure

pytestmark = pytest.mark.integration

Attempt = Callable[[Any, str], Any]  # (publisher, marker) -> None, raising PublishFailed

SCENARIOS: dict[str, tuple[Attempt, str, int]] = {
    "unknown_pubsub": (
        lambda p, m: p.publish("events", m.encode(), pubsub="no-such-pubsub"),
        "ERR_PUBSUB_NOT_FOUND",
        404,
    ),
    "topic_forbidden_by_scopes": (
        lambda p, m: p.publish("denied", m.encode(), pubsub=SCOPED),
        "ERR_PUBSUB_FORBIDDEN",
        403,
    ),
    "empty_topic": (lambda p, m: p.publish("", m.encode()), "ERR_TOPIC_NAME_EMPTY", 404),
    "raw_payload_not_a_bool": (
        lambda p, m: p.publish("events", m.encode(), metadata={"rawPayload": "maybe"}),
        "ERR_PUBSUB_REQUEST_METADATA",
        400,
    ),
    "ttl_not_a_number": (
        lambda p, m: p.publish("events", m.encode(), metadata={"ttlInSeconds": "soon"}),
        "ERR_PUBSUB_REQUEST_METADATA",
        400,
    ),
    "cloudevent_not_json": (
        lambda p, m: p.publish("events", f"{{{m}".encode(), "application/cloudevents+json"),
        "ERR_PUBSUB_CLOUD_EVENTS_SER",
        400,
    ),
    "cloudevent_not_an_object": (
        lambda p, m: p.publish("events", json.dumps([m]).encode(), "application/cloudevents+json"),
        "ERR_PUBSUB_CLOUD_EVENTS_SER",
        400,
    ),
    "bulk_duplicate_entry_ids": (
        lambda p, m: p.bulk(
            "events", [Entry("1", json.dumps(m).encode()), Entry("1", json.dumps(m).encode())]
        ),
        "ERR_PUBSUB_EVENTS_SER",
        400,
    ),
    "bulk_empty_entry_id": (
        lambda p, m: p.bulk("events", [Entry("", json.dumps(m).encode())]),
        "ERR_PUBSUB_EVENTS_SER",
        400,
    ),
}


@pytest.fixture(scope="module")
def rpc(env: PubSubEnv) -> Iterator[GrpcPublisher]:
    client = GrpcPublisher(env)
    yield client
    client.close()


def _fails(attempt: Attempt, publisher: Any, marker: str) -> PublishFailed:
    try:
        attempt(publisher, marker)
    except PublishFailed as exc:
        return exc
    raise AssertionError("the publish succeeded")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_error_parity(env: PubSubEnv, rpc: GrpcPublisher, name: str) -> None:
    attempt, code, status = SCENARIOS[name]
    marker = env.marker()
    http = _fails(attempt, HttpPublisher(env), marker).http
    failure = _fails(attempt, rpc, marker).rpc
    assert isinstance(http, Response)
    assert isinstance(failure, RpcFailure)
    doc = http.json()
    assert (http.status, doc["errorCode"]) == (status, code), http.text
    assert failure.error_code == code
    assert failure.message == doc["message"]
    pair = (code, http.status, failure.code)
    assert any((k.code, int(k.http_status), k.grpc_code) == pair for k in TABLE.values()), (
        f"no table entry is {pair}"
    )
    assert [comparable_detail(d) for d in doc["details"]] == [
        comparable_detail(d) for d in failure.details
    ]
    # nothing was published: a later, valid event is the only one carrying a fresh marker
    follow = env.marker()
    assert env.publish("events", follow).status == 204
    env.wait(tagged(follow))
    assert not [d for d in env.deliveries() if tagged(marker)(d)]
