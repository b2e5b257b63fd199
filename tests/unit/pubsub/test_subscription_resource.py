"""Declarative Subscription resources: both API versions, scopes, and errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.appchannel.base import TopicRule
from runtime.resources.issues import Issue
from runtime.resources.loader import Document
from runtime.resources.subscription import load_subscriptions


def doc(spec: dict[str, Any], version: str = "v2alpha1", **top: Any) -> Document:
    body = {
        "apiVersion": f"dapr.io/{version}",
        "kind": "Subscription",
        "metadata": {"name": "s"},
        "spec": {"pubsubname": "pubsub", "topic": "orders", **spec},
        **top,
    }
    return Document("subs.yaml", 0, body)


def load(*docs: Document, app_id: str | None = "app") -> tuple[list[Any], list[Issue]]:
    issues: list[Issue] = []
    return load_subscriptions(docs, app_id=app_id, issues=issues), issues


def test_v2alpha1_rules_then_default() -> None:
    routes = {"rules": [{"match": 'event.type == "a"', "path": "/a"}], "default": "/d"}
    (sub,), issues = load(doc({"routes": routes, "deadLetterTopic": "dlq"}))
    assert issues == []
    assert sub.rules == (TopicRule('event.type == "a"', "/a"), TopicRule("", "/d"))
    assert sub.dead_letter_topic == "dlq"


def test_v1alpha1_route() -> None:
    (sub,), issues = load(doc({"route": "/r", "metadata": {"rawPayload": "true"}}, "v1alpha1"))
    assert issues == []
    assert sub.rules == (TopicRule("", "/r"),)
    assert sub.metadata == {"rawPayload": "true"}


def test_scopes_select_apps() -> None:
    scoped = doc({"routes": {"default": "/d"}}, scopes=["other"])
    assert load(scoped) == ([], [])
    assert len(load(scoped, app_id=None)[0]) == 1  # tandem validate checks them all


@pytest.mark.parametrize(
    ("spec", "version", "path", "words"),
    [
        ({"route": "/r"}, "v2alpha1", "", "v1alpha1"),
        ({"routes": {"default": "/d"}}, "v1alpha1", "", "v2alpha1"),
        ({}, "v2alpha1", "", "rules or a default"),
        ({"routes": {"default": "/d"}, "topic": ""}, "v2alpha1", "spec.topic", "at least 1"),
        ({"routes": {"default": "/d"}, "deadletter": "x"}, "v2alpha1", "spec.deadletter", ""),
        (
            {"routes": {"rules": [{"match": "event.(", "path": "/x"}]}},
            "v2alpha1",
            "spec.routes.rules",
            "invalid routing rule",
        ),
        (
            {"routes": {"default": "/d"}, "bulkSubscribe": {"maxMessagesCount": -1}},
            "v2alpha1",
            "spec.bulkSubscribe.maxMessagesCount",
            "",
        ),
    ],
)
def test_problems_name_the_file_and_field(
    spec: dict[str, Any], version: str, path: str, words: str
) -> None:
    subs, issues = load(doc(spec, version))
    assert subs == []
    assert issues
    assert all(i.source == "subs.yaml" for i in issues)
    assert any(i.path == path and words in i.message for i in issues), issues
