"""The state transactional outbox: a committed transaction publishes its upserts (an
``outbox.projection`` in place of the stored value), a failed one publishes nothing.

The sidecar's ``outboxstore`` (state.in-memory) has ``outboxPublishPubsub: pubsub`` and
``outboxPublishTopic: outbox-out``; the app subscribes to ``outbox-out`` at ``/outbox``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.harness import Response, wait_until
from tests.integration.pubsub._support import APP_ID, OUTBOX_STORE, PubSubEnv, tagged

pytestmark = pytest.mark.integration


def _transaction(env: PubSubEnv, operations: list[dict[str, Any]]) -> Response:
    return env.sidecar.request(
        "POST",
        f"/v1.0/state/{OUTBOX_STORE}/transaction",
        json.dumps({"operations": operations}),
        {"Content-Type": "application/json"},
    )


def _upsert(key: str, value: Any, **metadata: str) -> dict[str, Any]:
    request: dict[str, Any] = {"key": key, "value": value}
    if metadata:
        request["metadata"] = metadata
    return {"operation": "upsert", "request": request}


def test_committed_transaction_publishes_its_changes(env: PubSubEnv) -> None:
    marker = env.marker()
    r = _transaction(env, [_upsert(f"k-{marker}", {"marker": marker, "n": 1})])
    assert r.status == 204, r.text
    (delivery,) = env.wait(lambda d: d["path"] == "/outbox" and tagged(marker)(d))
    event = delivery["body"]
    assert event["data"] == {"marker": marker, "n": 1}
    assert event["source"] == APP_ID
    assert event["topic"] == "outbox-out"
    assert event["datacontenttype"] == "application/json"


def test_projection_is_published_and_the_value_is_stored(env: PubSubEnv) -> None:
    marker, key = env.marker(), f"p-{env.marker()}"
    r = _transaction(
        env,
        [
            _upsert(key, {"marker": marker, "stored": True}),
            _upsert(key, {"marker": marker, "projected": True}, **{"outbox.projection": "true"}),
        ],
    )
    assert r.status == 204, r.text
    (delivery,) = env.wait(lambda d: d["path"] == "/outbox" and tagged(marker)(d))
    assert delivery["body"]["data"] == {"marker": marker, "projected": True}
    stored = env.sidecar.request("GET", f"/v1.0/state/{OUTBOX_STORE}/{key}")
    assert stored.json() == {"marker": marker, "stored": True}


def test_failed_transaction_publishes_nothing(env: PubSubEnv) -> None:
    failed, later = env.marker(), env.marker()
    key = f"f-{failed}"
    saved = env.sidecar.request(
        "POST", f"/v1.0/state/{OUTBOX_STORE}", json.dumps([{"key": key, "value": 1}])
    )
    assert saved.status == 204
    stale = _upsert(key, {"marker": failed})
    stale["request"]["etag"] = "999999"
    assert _transaction(env, [stale]).status >= 400
    assert _transaction(env, [_upsert(f"k-{later}", {"marker": later})]).status == 204
    env.wait(lambda d: d["path"] == "/outbox" and tagged(later)(d))
    assert not [d for d in env.deliveries() if tagged(failed)(d)]


def test_marker_keys_are_removed_once_published(env: PubSubEnv) -> None:
    marker = env.marker()
    assert _transaction(env, [_upsert(f"m-{marker}", {"marker": marker})]).status == 204
    env.wait(lambda d: d["path"] == "/outbox" and tagged(marker)(d))

    def markers() -> list[str]:
        r = env.sidecar.request("GET", f"/v1.0-alpha1/state/{OUTBOX_STORE}/keys?prefix=outbox-")
        keys: list[str] = r.json()["keys"]
        return keys

    assert wait_until(lambda: markers() == [], 10), markers()
