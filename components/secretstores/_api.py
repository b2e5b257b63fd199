"""The secret store contract: read-only lookups of named secrets.

A secret is a small map of strings: a name/value store answers ``{name: value}``, a store with
``MULTIPLE_KEY_VALUES_PER_SECRET`` may answer several keys for one secret. Names are opaque
lookup keys: no store may treat one as a path or a pattern, so ``../x`` or ``*`` only ever
names a secret that does not exist. A missing secret is ``None``, never an error; errors mean
the backend failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from components.base import Component

__all__ = ["SecretStore", "SecretStoreFeature"]


class SecretStoreFeature(StrEnum):
    """Capability strings, as Dapr reports them in metadata."""

    MULTIPLE_KEY_VALUES_PER_SECRET = "MULTIPLE_KEY_VALUES_PER_SECRET"  # noqa: S105


class SecretStore(Component, Protocol):
    def features(self) -> frozenset[SecretStoreFeature]: ...

    async def get(self, name: str, metadata: Mapping[str, str]) -> dict[str, str] | None:
        """The secret ``name`` (a fresh dict the caller may keep), or None when it is missing.

        ``metadata`` is the request's ``metadata.*`` (store-specific; unknown keys ignored)."""

    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        """Every secret this store exposes, by name."""
