"""Resiliency documents → one merged, validated ``ResiliencyConfig``.

Merging follows Dapr: every document scoped to this app (no ``scopes``, or the app id listed)
adds its policies and targets; a name defined twice keeps the later definition (logged).
Target references are checked against the merged policies. Every problem of every document is
appended to ``issues`` with its file, document and field path; invalid documents are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from pydantic import ValidationError

from runtime.resiliency.model import (
    BreakerSpec,
    ComponentTarget,
    PolicyNames,
    ResiliencyManifest,
    RetrySpec,
)
from runtime.resources.issues import Issue
from runtime.resources.loader import Document, document_issues

__all__ = ["ResiliencyConfig", "load_resiliency"]

log = logging.getLogger("tandem.resiliency")


class ResiliencyConfig(msgspec.Struct, frozen=True):
    timeouts: dict[str, float] = msgspec.field(default_factory=dict)
    retries: dict[str, RetrySpec] = msgspec.field(default_factory=dict)
    breakers: dict[str, BreakerSpec] = msgspec.field(default_factory=dict)
    apps: dict[str, PolicyNames] = msgspec.field(default_factory=dict)
    actors: dict[str, PolicyNames] = msgspec.field(default_factory=dict)
    components: dict[str, ComponentTarget] = msgspec.field(default_factory=dict)
    names: tuple[str, ...] = ()  # metadata.name of each merged document

    @property
    def empty(self) -> bool:
        return not (self.timeouts or self.retries or self.breakers)


def _merge(kind: str, into: dict[str, Any], items: dict[str, Any], source: str) -> None:
    for name, value in items.items():
        if name in into and into[name] != value:
            log.warning(
                "resiliency %s %r redefined in %s: the later definition wins", kind, name, source
            )
        into[name] = value


def load_resiliency(
    documents: Sequence[Document], *, app_id: str | None, issues: list[Issue]
) -> ResiliencyConfig:
    """``app_id=None`` (``tandem validate``) merges every document whatever its scopes."""
    merged = ResiliencyConfig()
    refs: list[tuple[Document, str, PolicyNames]] = []
    names: list[str] = []
    for doc in documents:
        try:
            manifest = ResiliencyManifest.model_validate(doc.body)
        except ValidationError as exc:
            issues.extend(document_issues(doc, exc))
            continue
        if app_id is not None and manifest.scopes and app_id not in manifest.scopes:
            log.info("resiliency %s skipped: not scoped to app %s", manifest.metadata.name, app_id)
            continue
        names.append(manifest.metadata.name)
        log.info("resiliency %s loaded from %s", manifest.metadata.name, doc.source)
        spec = manifest.spec
        _merge("timeout", merged.timeouts, spec.policies.timeouts, doc.source)
        _merge("retry", merged.retries, spec.policies.retries, doc.source)
        _merge("circuit breaker", merged.breakers, spec.policies.circuitBreakers, doc.source)
        _merge("app target", merged.apps, spec.targets.apps, doc.source)
        _merge("actor target", merged.actors, spec.targets.actors, doc.source)
        _merge("component target", merged.components, spec.targets.components, doc.source)
        refs.extend(
            _references(doc, spec.targets.apps, spec.targets.actors, spec.targets.components)
        )
    for doc, path, policy in refs:
        issues.extend(_check(doc, path, policy, merged))
    return ResiliencyConfig(
        timeouts=merged.timeouts,
        retries=merged.retries,
        breakers=merged.breakers,
        apps=merged.apps,
        actors=merged.actors,
        components=merged.components,
        names=tuple(names),
    )


def _references(
    doc: Document,
    apps: dict[str, PolicyNames],
    actors: dict[str, Any],
    components: dict[str, ComponentTarget],
) -> Iterable[tuple[Document, str, PolicyNames]]:
    for name, names in apps.items():
        yield doc, f"spec.targets.apps.{name}", names
    for name, names in actors.items():
        yield doc, f"spec.targets.actors.{name}", names
    for name, target in components.items():
        for direction in ("outbound", "inbound"):
            names = getattr(target, direction)
            if names is not None:
                yield doc, f"spec.targets.components.{name}.{direction}", names


def _check(doc: Document, path: str, names: PolicyNames, cfg: ResiliencyConfig) -> list[Issue]:
    found: list[Issue] = []
    for attr, kind, known in (
        ("timeout", "timeout", cfg.timeouts),
        ("retry", "retry", cfg.retries),
        ("circuitBreaker", "circuit breaker", cfg.breakers),
    ):
        ref = getattr(names, attr)
        if ref is not None and ref not in known:
            have = ", ".join(sorted(known)) or "none defined"
            found.append(
                Issue(
                    doc.source,
                    f"unknown {kind} policy {ref!r} (known: {have})",
                    doc.index,
                    f"{path}.{attr}",
                )
            )
    return found
