"""The app's programmatic subscriptions (``GET /dapr/subscribe`` JSON) as domain objects.

Both the v1 form (``route``) and the v2 form (``routes: {rules, default}``) are accepted, as
Dapr does (the Python SDK's FastAPI extension still answers v1). Rules keep their order and the
default route comes last with an empty match. Items without a pubsub name, topic or any route
are skipped with a warning, as Dapr does.
"""

from __future__ import annotations

import logging
from typing import Any

from runtime.appchannel.base import AppChannelError, AppSubscription, BulkSubscribe, TopicRule

__all__ = ["subscriptions_from_json"]

log = logging.getLogger("tandem.app")


def subscriptions_from_json(document: Any) -> list[AppSubscription]:
    if not isinstance(document, list):
        raise AppChannelError("GET /dapr/subscribe: expected a JSON array")
    out = []
    for index, item in enumerate(document):
        subscription = _one(item)
        if subscription is None:
            log.warning("ignoring subscription %d from the app: %r", index, item)
        else:
            out.append(subscription)
    return out


def _one(item: Any) -> AppSubscription | None:
    if not isinstance(item, dict):
        return None
    pubsub, topic = item.get("pubsubname"), item.get("topic")
    if not isinstance(pubsub, str) or not pubsub or not isinstance(topic, str) or not topic:
        return None
    rules: list[TopicRule] = []
    default = item.get("route") if isinstance(item.get("route"), str) else ""
    routes = item.get("routes")
    if isinstance(routes, dict):
        for rule in routes.get("rules") or ():
            if isinstance(rule, dict) and isinstance(rule.get("path"), str) and rule["path"]:
                match = rule.get("match")
                rules.append(TopicRule(match if isinstance(match, str) else "", rule["path"]))
        if isinstance(routes.get("default"), str) and routes["default"]:
            default = routes["default"]
    if default:
        rules.append(TopicRule("", default))
    if not rules:
        return None
    metadata = item.get("metadata")
    return AppSubscription(
        pubsub_name=pubsub,
        topic=topic,
        rules=tuple(rules),
        metadata={str(k): str(v) for k, v in metadata.items()}
        if isinstance(metadata, dict)
        else {},
        dead_letter_topic=str(item.get("deadLetterTopic") or ""),
        bulk_subscribe=_bulk(item.get("bulkSubscribe")),
    )


def _bulk(value: Any) -> BulkSubscribe | None:
    if not isinstance(value, dict):
        return None

    def number(key: str) -> int:
        found = value.get(key)
        return found if isinstance(found, int) and not isinstance(found, bool) else 0

    return BulkSubscribe(
        enabled=value.get("enabled") is True,
        max_messages_count=number("maxMessagesCount"),
        max_await_duration_ms=number("maxAwaitDurationMs"),
    )
