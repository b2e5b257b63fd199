"""Declarative subscriptions: ``kind: Subscription`` resources, as Dapr reads them.

``dapr.io/v2alpha1`` routes with ``spec.routes`` (``rules`` of CEL ``match`` + ``path``, then
``default``); ``dapr.io/v1alpha1`` (deprecated) with ``spec.route``. Both take ``pubsubname``,
``topic``, ``metadata``, ``deadLetterTopic``, ``bulkSubscribe`` and top-level ``scopes`` (app
ids; empty: every app). Problems become issues naming the file, the document and the field
(an unknown field, a missing route, a routing rule CEL cannot compile), and stop the start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runtime.appchannel.base import AppSubscription, BulkSubscribe, TopicRule
from runtime.resources.issues import Issue
from runtime.resources.loader import Document, document_issues
from runtime.services.pubsub_routing import compile_rules

__all__ = ["SubscriptionManifest", "load_subscriptions"]

log = logging.getLogger("tandem.resources")


# defer_build: the validators are built at the first Subscription document validated, so a
# sidecar without one does not pay for them at start-up.
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class _Rule(_Model):
    match: str = ""
    path: str = Field(min_length=1)


class _Routes(_Model):
    rules: list[_Rule] = Field(default_factory=list)
    default: str = ""


class _Bulk(_Model):
    enabled: bool = False
    maxMessagesCount: int = Field(default=0, ge=0)  # noqa: N815 (Dapr's names)
    maxAwaitDurationMs: int = Field(default=0, ge=0)  # noqa: N815


class _Spec(_Model):
    pubsubname: str = Field(min_length=1)
    topic: str = Field(min_length=1)
    route: str = ""  # v1alpha1
    routes: _Routes | None = None  # v2alpha1
    metadata: dict[str, str] = Field(default_factory=dict)
    deadLetterTopic: str = ""  # noqa: N815
    bulkSubscribe: _Bulk | None = None  # noqa: N815


class _Meta(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    name: str = Field(min_length=1)


class SubscriptionManifest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    apiVersion: Literal["dapr.io/v1alpha1", "dapr.io/v2alpha1"]  # noqa: N815
    kind: Literal["Subscription"]
    metadata: _Meta
    spec: _Spec
    scopes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _routed(self) -> SubscriptionManifest:
        spec = self.spec
        if self.apiVersion == "dapr.io/v1alpha1":
            if spec.routes is not None:
                raise ValueError("spec.routes needs apiVersion dapr.io/v2alpha1 (v1alpha1: route)")
            if not spec.route:
                raise ValueError("spec.route is required")
        elif spec.route:
            raise ValueError("spec.route is v1alpha1; dapr.io/v2alpha1 uses spec.routes")
        elif spec.routes is None or not (spec.routes.rules or spec.routes.default):
            raise ValueError("spec.routes needs rules or a default")
        return self

    def subscription(self) -> AppSubscription:
        spec = self.spec
        rules = [TopicRule(r.match, r.path) for r in (spec.routes.rules if spec.routes else [])]
        default = spec.routes.default if spec.routes else spec.route
        if default:
            rules.append(TopicRule("", default))
        bulk = spec.bulkSubscribe
        return AppSubscription(
            pubsub_name=spec.pubsubname,
            topic=spec.topic,
            rules=tuple(rules),
            metadata=dict(spec.metadata),
            dead_letter_topic=spec.deadLetterTopic,
            bulk_subscribe=BulkSubscribe(
                enabled=bulk.enabled,
                max_messages_count=bulk.maxMessagesCount,
                max_await_duration_ms=bulk.maxAwaitDurationMs,
            )
            if bulk
            else None,
        )


def load_subscriptions(
    documents: Sequence[Document], *, app_id: str | None, issues: list[Issue]
) -> list[AppSubscription]:
    """The subscriptions scoped to ``app_id`` (None: all, for ``tandem validate``)."""
    out: list[AppSubscription] = []
    for doc in documents:
        try:
            manifest = SubscriptionManifest.model_validate(doc.body)
        except ValidationError as exc:
            issues.extend(document_issues(doc, exc))
            continue
        subscription = manifest.subscription()
        try:
            compile_rules(subscription.rules)
        except ValueError as exc:
            issues.append(Issue(doc.source, str(exc), doc.index, "spec.routes.rules"))
            continue
        if app_id is not None and manifest.scopes and app_id not in manifest.scopes:
            log.info(
                "subscription %s skipped: not scoped to app %s", manifest.metadata.name, app_id
            )
            continue
        out.append(subscription)
    return out
