"""From validated manifests to live components.

``plan_components`` resolves every type and validates every component's metadata before any
I/O, collecting all problems into one ConfigError. ``start_components`` then initialises them in
order, each under its ``initTimeout``, registering ``close()`` on the exit stack so shutdown runs
in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from typing import Any

import msgspec
from pydantic import ValidationError

from components.base import BaseMetadata, Component, ComponentContext
from runtime.compstore import SECRET_STORES, ComponentStore, LiveComponent
from runtime.keyprefix import separator_problem
from runtime.registry import MissingDriver, Registry, UnknownComponentType
from runtime.resources.dapr_types import is_dapr_type
from runtime.resources.issues import ConfigError, Issue
from runtime.resources.manifest import ComponentManifest
from runtime.resources.secretrefs import (
    SecretRef,
    SecretRefError,
    deferred_errors,
    plan_ref,
    resolve_refs,
    secret_store_names,
)

__all__ = [
    "RUNTIME_METADATA",
    "ComponentInitError",
    "ComponentPlan",
    "plan_components",
    "start_components",
]

log = logging.getLogger("tandem.components")

# Metadata names the runtime consumes itself; they are not passed to the component's model.
RUNTIME_METADATA = frozenset(
    {
        "keyprefix",
        "actorstatestore",
        # pub/sub topic scoping (runtime.services.pubsub_scopes)
        "publishingscopes",
        "subscriptionscopes",
        "allowedtopics",
        "protectedtopics",
        # the state transactional outbox (runtime.services.pubsub_outbox)
        "outboxpublishpubsub",
        "outboxpublishtopic",
        "outboxpubsub",
        "outboxdiscardwhenmissingstate",
    }
)
# Names the runtime reads and the component still receives (pub/sub consumer groups).
SHARED_METADATA = frozenset({"consumerid"})


class ComponentInitError(Exception):
    pass


class ComponentPlan(msgspec.Struct, frozen=True):
    """A component ready to start. With ``secret_refs``, ``metadata`` is an unvalidated
    placeholder: ``start_components`` reads the secrets and validates ``values`` with them."""

    manifest: ComponentManifest
    cls: type[Component]
    metadata: BaseMetadata
    runtime_metadata: Mapping[str, str]
    values: Mapping[str, str] = msgspec.field(default_factory=dict)
    secret_refs: tuple[SecretRef, ...] = ()


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def plan_components(
    manifests: Sequence[ComponentManifest],
    registry: Registry,
    *,
    app_id: str | None,
    env: Mapping[str, str],
    prior_issues: Sequence[Issue] = (),
) -> list[ComponentPlan]:
    """Resolve and validate every manifest; raises ConfigError with every problem, after the
    ``prior_issues`` found while loading the files.

    As daprd does, a component that says ``ignoreErrors: true`` is skipped with a warning when
    it cannot be loaded (a type Tandem lacks, bad metadata); without it, start-up stops.
    Components scoped to other apps are skipped; ``app_id=None`` (``tandem validate``) keeps
    them all, so every file is checked whatever app will load it.
    """
    issues: list[Issue] = list(prior_issues)
    plans: list[ComponentPlan] = []
    mine = []
    for m in manifests:
        if app_id is not None and m.scopes and app_id not in m.scopes:
            log.info("component %s skipped: not scoped to app %s", m.name, app_id)
            continue
        mine.append(m)
    stores = secret_store_names(mine)
    for m in mine:
        found: list[Issue] = []
        plan = _plan(m, registry, env, found, stores)
        if found and m.spec.ignoreErrors:
            for issue in found:
                log.warning("component %s skipped (ignoreErrors): %s", m.name, issue)
            continue
        issues.extend(found)
        if plan is not None:
            plans.append(plan)
    if issues:
        raise ConfigError(issues)
    return plans


def _resolve(
    m: ComponentManifest, registry: Registry, issues: list[Issue]
) -> type[Component] | None:
    try:
        return registry.resolve(m.spec.type, m.spec.version)
    except UnknownComponentType as exc:
        message = str(exc)
        if m.spec.type.lower() not in registry.types() and is_dapr_type(m.spec.type):
            message = (
                f"{m.spec.type!r} is a Dapr component type Tandem does not implement;"
                " set spec.ignoreErrors: true to start without it"
            )
        issues.append(Issue(m.source, message, m.document, "spec.type"))
    except MissingDriver as exc:
        issues.append(Issue(m.source, str(exc), m.document, "spec.type"))
    return None


def _plan(
    m: ComponentManifest,
    registry: Registry,
    env: Mapping[str, str],
    issues: list[Issue],
    secret_stores: frozenset[str] = frozenset(),
) -> ComponentPlan | None:
    """One component's plan, or None with its problems appended to ``issues``."""
    cls = _resolve(m, registry, issues)
    if cls is None:
        return None
    values: dict[str, str] = {}
    runtime_values: dict[str, str] = {}
    index_of: dict[str, int] = {}
    refs: list[SecretRef] = []
    ok = True
    for i, item in enumerate(m.spec.metadata):
        where = f"spec.metadata[{i}]"
        if item.envRef is not None:
            if item.envRef not in env:
                issues.append(
                    Issue(
                        m.source,
                        f"environment variable {item.envRef} is not set",
                        m.document,
                        where + ".envRef",
                    )
                )
                ok = False
                continue
            value = env[item.envRef]
        elif item.secretKeyRef is not None:
            ref = plan_ref(m, i, item, secret_stores, issues)
            if ref is None:
                ok = False
            else:
                refs.append(ref)
                index_of[item.name.lower()] = i
            continue
        else:
            value = "" if item.value is None else _as_text(item.value)
        if item.name.lower() in RUNTIME_METADATA:
            problem = separator_problem(value) if item.name.lower() == "keyprefix" else None
            if problem is not None:
                issues.append(Issue(m.source, problem, m.document, f"{where}.value"))
                ok = False
                continue
            runtime_values[item.name.lower()] = value
        else:
            if item.name.lower() in SHARED_METADATA:
                runtime_values[item.name.lower()] = value
            values[item.name] = value
            index_of[item.name.lower()] = i
    metadata = _validate(m, cls, values, index_of=index_of, refs=refs, issues=issues)
    if not ok or metadata is None:
        return None
    return ComponentPlan(m, cls, metadata, runtime_values, values, tuple(refs))


def _validate(
    m: ComponentManifest,
    cls: type[Component],
    values: Mapping[str, str],
    *,
    index_of: Mapping[str, int],
    refs: Sequence[SecretRef],
    issues: list[Issue],
) -> BaseMetadata | None:
    """The metadata model (an unvalidated placeholder while ``refs`` wait for their secrets:
    the fields they fill are checked at start), or None with the problems in ``issues``."""
    pending = {r.field: "" for r in refs if r.field.lower() not in RUNTIME_METADATA}
    unknown = cls.Metadata.unknown_fields({**values, **pending})
    if unknown:
        log.warning(
            "component %s (%s): ignoring unknown metadata %s",
            m.name,
            m.spec.type,
            ", ".join(unknown),
        )
    try:
        metadata = cls.Metadata.model_validate(values)
    except ValidationError as exc:
        errors = deferred_errors(exc, refs)
        for err in errors:
            field = str(err["loc"][0]) if err["loc"] else ""
            idx = index_of.get(field.lower())
            path = (
                f"spec.metadata[{idx}] ({field})"
                if idx is not None
                else (f"spec.metadata ({field})" if field else "spec.metadata")
            )
            issues.append(Issue(m.source, err["msg"], m.document, path))
        if errors:
            return None
        return cls.Metadata.model_construct(None, **values)
    return cls.Metadata.model_construct(None, **values) if refs else metadata


async def start_components(
    plans: Sequence[ComponentPlan],
    stack: AsyncExitStack,
    make_context: Callable[[ComponentManifest], ComponentContext],
    *,
    close_timeout: float | None = None,
) -> ComponentStore:
    """Initialise in order; close() runs on ``stack`` in reverse, each bounded by
    ``close_timeout`` seconds so that one stuck component cannot hold the shutdown. Raises
    ComponentInitError."""
    store = ComponentStore()
    # secret stores first: other components' secretKeyRefs are read from them
    for plan in sorted(plans, key=lambda p: p.manifest.block != SECRET_STORES):
        m = plan.manifest
        metadata, runtime_metadata = plan.metadata, plan.runtime_metadata
        if plan.secret_refs:
            try:
                async with asyncio.timeout(m.spec.initTimeout):
                    metadata, runtime_metadata = await resolve_refs(plan, RUNTIME_METADATA, store)
            except (SecretRefError, TimeoutError) as exc:
                reason = str(exc) or "reading its secretKeyRefs timed out"
                message = f"component {m.name} ({m.spec.type}) from {m.source}: {reason}"
                if m.spec.ignoreErrors:
                    log.warning("%s; skipped (ignoreErrors)", message)
                    continue
                raise ComponentInitError(message) from None
        instance = plan.cls(metadata, context=make_context(m))
        stack.push_async_callback(_close, instance, m.name, close_timeout)
        try:
            async with asyncio.timeout(m.spec.initTimeout):
                await instance.init()
        except Exception as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else f"failed: {exc}"
            if m.spec.ignoreErrors:
                log.warning(
                    "component %s (%s) init %s; continuing (ignoreErrors)",
                    m.name,
                    m.spec.type,
                    reason,
                )
                continue
            raise ComponentInitError(
                f"component {m.name} ({m.spec.type}) from {m.source}: init {reason}"
            ) from exc
        store.add(
            LiveComponent(
                name=m.name,
                type=m.spec.type,
                version=m.spec.version,
                block=m.block,
                instance=instance,
                runtime_metadata=runtime_metadata,
            )
        )
        log.info("component loaded: %s (%s/%s)", m.name, m.spec.type, m.spec.version)
    return store


async def _close(instance: Component, name: str, limit: float | None) -> None:
    try:
        async with asyncio.timeout(limit):
            await instance.close()
    except TimeoutError:
        log.warning("component %s: close did not finish within %gs; abandoned", name, limit)
    except Exception:
        log.exception("component %s: close failed", name)
