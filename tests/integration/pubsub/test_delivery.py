"""Delivery to an HTTP app: Dapr's status table, routing rules, dead letters, retries per the
Resiliency resource, bulk subscribe, declarative subscriptions and the metadata API.

The sidecar runs ``components.pubsub.inbound`` with 3 fast retries (``_support.RESILIENCY``).
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest

from tests.integration.pubsub._support import SCOPED, PubSubEnv, tagged

pytestmark = pytest.mark.integration


def _publish(env: PubSubEnv, topic: str, data: dict[str, Any]) -> None:
    r = env.publish(topic, json.dumps(data), content_type="application/json")
    assert r.status == 204, r.text


def _at(path: str, marker: str) -> Any:
    return lambda d: d["path"] == path and tagged(marker)(d)


@pytest.mark.parametrize("answer", ["success", "empty"])
def test_success_or_empty_answer_acknowledges(env: PubSubEnv, answer: str) -> None:
    marker, retried = env.marker(), env.marker()
    _publish(env, "status", {"marker": marker, "answer": answer})
    _publish(env, "status", {"marker": retried, "answer": "retry"})
    # By the time a retried twin has used up its retries, a retried ``marker`` would have too.
    env.wait(_at("/dead", retried))
    assert len([d for d in env.deliveries() if _at("/status", marker)(d)]) == 1
    assert not [d for d in env.deliveries() if _at("/dead", marker)(d)]


def test_retry_answer_is_retried_then_dead_lettered(env: PubSubEnv) -> None:
    marker = env.marker()
    _publish(env, "status", {"marker": marker, "answer": "retry"})
    (dead,) = env.wait(_at("/dead", marker))
    attempts = [d for d in env.deliveries() if _at("/status", marker)(d)]
    assert len(attempts) == 4  # the first attempt and 3 retries
    assert dead["body"]["data"]["marker"] == marker  # the original event


@pytest.mark.parametrize("answer", ["drop", 404])
def test_drop_and_404_go_to_the_dead_letter_topic_at_once(env: PubSubEnv, answer: Any) -> None:
    marker = env.marker()
    _publish(env, "status", {"marker": marker, "answer": answer})
    env.wait(_at("/dead", marker))
    assert len([d for d in env.deliveries() if _at("/status", marker)(d)]) == 1


def test_server_error_is_retried_until_success(env: PubSubEnv) -> None:
    marker = env.marker()
    _publish(env, "status", {"marker": marker, "failures": 2})
    env.wait(_at("/status", marker), count=3)
    assert not [d for d in env.deliveries() if _at("/dead", marker)(d)]


def test_without_dead_letter_the_broker_redelivers_after_retries(env: PubSubEnv) -> None:
    """Retries exhausted and no dead-letter topic: NACK, so the message comes back."""
    marker = env.marker()
    _publish(env, "nodlq", {"marker": marker, "failures": 6})
    env.wait(_at("/nodlq", marker), count=7)  # 4 attempts, NACK, redelivered, 3 more


def test_routing_rules_pick_the_path(env: PubSubEnv) -> None:
    widget, other = env.marker(), env.marker()
    _publish(env, "routed", {"marker": widget, "kind": "widget"})
    _publish(env, "routed", {"marker": other, "kind": "gadget"})
    custom = env.marker()
    user_event = {"specversion": "1.0", "type": "custom.type", "data": {"marker": custom}}
    r = env.publish("routed", json.dumps(user_event), content_type="application/cloudevents+json")
    assert r.status == 204
    env.wait(_at("/widgets", widget))
    env.wait(_at("/routed", other))
    env.wait(_at("/custom", custom))


def test_event_matching_no_rule_goes_to_the_dead_letter_topic(env: PubSubEnv) -> None:
    marker = env.marker()
    _publish(env, "unrouted", {"marker": marker, "kind": "other"})
    env.wait(_at("/dead", marker))
    assert not [d for d in env.deliveries() if _at("/never", marker)(d)]


def test_bulk_subscription_receives_batches(env: PubSubEnv) -> None:
    marker = env.marker()
    for n in range(7):
        _publish(env, "bulk-in", {"marker": marker, "n": n})
    batches: list[dict[str, Any]] = []

    def entries() -> int:
        batches[:] = [d for d in env.deliveries() if _at("/bulk", marker)(d)]
        return sum(len(b["body"]["entries"]) for b in batches)

    env.wait(lambda _: entries() >= 7)
    for batch in batches:
        body = batch["body"]
        assert body["type"] == "com.dapr.event.sent.bulk"
        assert body["topic"] == "bulk-in"
        assert 1 <= len(body["entries"]) <= 5
        for entry in body["entries"]:
            assert entry["event"]["data"]["marker"] == marker
            assert entry["entryId"]


def test_declarative_subscriptions_deliver(env: PubSubEnv) -> None:
    v2, v1 = env.marker(), env.marker()
    _publish(env, "decl", {"marker": v2})
    _publish(env, "decl-v1", {"marker": v1})
    env.wait(_at("/decl", v2))
    env.wait(_at("/decl-v1", v1))


def test_metadata_lists_every_subscription_with_its_kind(env: PubSubEnv) -> None:
    subs = env.sidecar.request("GET", "/v1.0/metadata").json()["subscriptions"]
    by_topic = {s["topic"]: s for s in subs}
    assert by_topic["decl"]["type"] == "DECLARATIVE"
    assert by_topic["decl-v1"]["type"] == "DECLARATIVE"
    assert "decl-other" not in by_topic  # scoped to another app
    assert by_topic["events"]["type"] == "PROGRAMMATIC"
    assert by_topic["routed"]["rules"] == [
        {"match": 'event.data.kind == "widget"', "path": "/widgets"},
        {"match": 'event.type == "custom.type"', "path": "/custom"},
        {"match": "", "path": "/routed"},
    ]
    assert by_topic["routed"]["deadLetterTopic"] == "dead"
    assert by_topic["raw"]["metadata"] == {"rawPayload": "true"}


def test_topic_scopes_limit_publishing_and_subscribing(env: PubSubEnv) -> None:
    marker = env.marker()
    r = env.publish("granted", json.dumps({"marker": marker}), pubsub=SCOPED)
    assert r.status == 204, r.text
    env.wait(_at("/granted", marker))
    assert env.publish("denied", "x", pubsub=SCOPED).status == 403
    subs = env.sidecar.request("GET", "/v1.0/metadata").json()["subscriptions"]
    scoped = {s["topic"] for s in subs if s["pubsubname"] == SCOPED}
    assert scoped == {"granted"}  # the subscription to "denied" was refused
    assert "not allowed" in env.sidecar.logs()


def test_metrics_count_published_delivered_retried_and_dead_lettered(env: PubSubEnv) -> None:
    marker = env.marker()
    _publish(env, "status", {"marker": marker, "answer": "retry"})
    env.wait(_at("/dead", marker))
    found = re.search(r"metrics on (http://\S+/metrics)", env.sidecar.logs())
    assert found is not None
    with urllib.request.urlopen(found.group(1), timeout=10) as r:
        text = r.read().decode()

    def value(name: str, **labels: str) -> float:
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    assert value("tandem_pubsub_published_total", topic="status", success="true") >= 1
    assert value("tandem_pubsub_retries_total", component="pubsub", topic="status") >= 3
    assert value("tandem_pubsub_deadletter_total", component="pubsub", topic="status") >= 1
    assert value("tandem_pubsub_delivered_total", topic="dead", status="success") >= 1
