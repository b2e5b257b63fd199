"""``secretKeyRef`` metadata: checked when planning, read from a secret store when starting.

A component's ``spec.metadata`` item ``{name: f, secretKeyRef: {name: s, key: k}}`` takes the
value of key ``k`` (default: ``s``) of secret ``s`` in the secret store named by the
component's ``auth.secretStore``. As daprd in standalone mode, only the named store is used;
without ``auth.secretStore`` the reference is a configuration error (daprd would leave the
value empty). Secret stores start before every other component and cannot themselves use
``secretKeyRef``. ``secrets.scopes`` does not apply: scoping guards the app's API calls.

Errors name the component, the field, the secret, the key and the store, never a value; a
resolved value that fails the component's metadata model is reported without quoting it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import msgspec
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from components.base import BaseMetadata, Component
from runtime.compstore import SECRET_STORES, ComponentStore
from runtime.keyprefix import KEY_SEPARATOR
from runtime.resources.issues import Issue
from runtime.resources.manifest import ComponentManifest, MetadataItem

__all__ = ["SecretRef", "SecretRefError", "plan_ref", "resolve_refs", "secret_store_names"]


class SecretRefError(Exception):
    """A reference cannot be resolved at start; the message holds no secret value."""


class SecretRef(msgspec.Struct, frozen=True, kw_only=True):
    """One metadata field whose value comes from a secret store."""

    index: int  # spec.metadata[index]
    field: str  # the metadata name, as written
    store: str
    secret: str
    key: str

    @property
    def where(self) -> str:
        return f"spec.metadata[{self.index}] ({self.field})"

    def describe(self) -> str:
        return f"secret {self.secret!r} key {self.key!r} of secret store {self.store!r}"


def secret_store_names(manifests: Sequence[ComponentManifest]) -> frozenset[str]:
    """Names of the secret stores among ``manifests`` (the ones this app plans)."""
    return frozenset(m.name for m in manifests if m.block == SECRET_STORES)


def plan_ref(
    m: ComponentManifest,
    index: int,
    item: MetadataItem,
    stores: Collection[str],
    issues: list[Issue],
) -> SecretRef | None:
    """The reference of ``item``, or None with the problem appended to ``issues``."""
    ref = item.secretKeyRef
    assert ref is not None
    where = f"spec.metadata[{index}].secretKeyRef"
    problem = None
    store = m.auth.secretStore if m.auth else ""
    if m.block == SECRET_STORES:
        problem = "a secret store cannot take metadata from a secretKeyRef"
    elif not store:
        problem = (
            f"secretKeyRef {ref.name!r} needs auth.secretStore: the name of the secret store "
            "component to read it from"
        )
    elif store not in stores:
        problem = (
            f"secretKeyRef {ref.name!r}: secret store {store!r} (auth.secretStore) is not "
            f"configured; secret stores: {', '.join(sorted(stores)) or 'none'}"
        )
    if problem is not None:
        issues.append(Issue(m.source, problem, m.document, where))
        return None
    return SecretRef(
        index=index, field=item.name, store=store, secret=ref.name, key=ref.key or ref.name
    )


def deferred_errors(exc: ValidationError, refs: Sequence[SecretRef]) -> list[ErrorDetails]:
    """The plan-time validation errors not about a field still waiting for its secret."""
    pending = {r.field.lower() for r in refs}
    return [e for e in exc.errors() if not (e["loc"] and str(e["loc"][0]).lower() in pending)]


async def _value(ref: SecretRef, components: ComponentStore) -> str:
    live = components.secret_store(ref.store)
    if live is None:
        raise SecretRefError(f"{ref.where}: secret store {ref.store!r} is not loaded")
    try:
        data = await live.instance.get(ref.secret, {})
    except TimeoutError:
        raise SecretRefError(f"{ref.where}: reading {ref.describe()} timed out") from None
    except Exception as exc:
        raise SecretRefError(
            f"{ref.where}: reading {ref.describe()} failed ({type(exc).__name__})"
        ) from None
    if data is None:
        raise SecretRefError(f"{ref.where}: {ref.describe()} not found (no such secret)")
    if ref.key not in data:
        raise SecretRefError(
            f"{ref.where}: {ref.describe()} not found (the secret has no such key)"
        )
    return data[ref.key]


class _Plan(Protocol):  # runtime.resources.build.ComponentPlan, without the import cycle
    @property
    def cls(self) -> type[Component]: ...
    @property
    def values(self) -> Mapping[str, str]: ...
    @property
    def runtime_metadata(self) -> Mapping[str, str]: ...
    @property
    def secret_refs(self) -> Sequence[SecretRef]: ...


async def resolve_refs(
    plan: _Plan, runtime_names: Collection[str], components: ComponentStore
) -> tuple[BaseMetadata, dict[str, str]]:
    """The plan's metadata model and runtime metadata with every reference read from
    ``components``. Raises SecretRefError (the caller prefixes the component's name)."""
    cls, refs = plan.cls, plan.secret_refs
    resolved = dict(plan.values)
    runtime = dict(plan.runtime_metadata)
    for ref in refs:
        value = await _value(ref, components)
        if ref.field.lower() in runtime_names:
            if KEY_SEPARATOR in value:
                raise SecretRefError(
                    f"{ref.where}: the value of {ref.describe()} contains {KEY_SEPARATOR!r}"
                )
            runtime[ref.field.lower()] = value
        else:
            resolved[ref.field] = value
    try:
        metadata = cls.Metadata.model_validate(resolved)
    except ValidationError as exc:
        by_field = {r.field.lower(): r for r in refs}
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            bad = by_field.get(name.lower())
            if bad is not None:  # never quote the message: a validator may echo the value
                problems.append(
                    f"{bad.where}: the value of {bad.describe()} is invalid "
                    f"({err['type']}; value not shown)"
                )
            elif not name:  # a check across fields, which may quote any of them
                problems.append(f"spec.metadata: invalid ({err['type']}; values not shown)")
            else:
                problems.append(f"spec.metadata ({name}): {err['msg']}")
        raise SecretRefError("; ".join(problems)) from None
    return metadata, runtime
