"""``secretstores.local.env``: secrets from the sidecar's environment, under a required prefix.

Metadata: ``prefix`` (required, non-empty; Dapr's is optional). Only variables whose name
starts with the prefix (case-sensitive) are secrets, named without it: with ``prefix:
MYAPP_``, the secret ``DB`` is ``$MYAPP_DB`` and is answered as ``{"DB": value}``. Requiring
the prefix means a manifest can never expose the sidecar's whole environment (cloud
credentials, ``PATH``, the API token) by leaving it out.

As in Dapr, variables named ``DAPR_*`` and ``APP_API_TOKEN`` are never secrets, whatever the
prefix. Variables are read on each call, so a change of the process environment shows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field, field_validator

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.secretstores._api import SecretStoreFeature

__all__ = ["EnvSecretStore", "EnvSecretStoreMetadata"]

_NEVER = "APP_API_TOKEN"


def _hidden(variable: str) -> bool:
    return variable.upper().startswith("DAPR_") or variable == _NEVER


class EnvSecretStoreMetadata(BaseMetadata):
    prefix: str = Field(
        min_length=1,
        description="required: only variables with this prefix are secrets",
    )

    @field_validator("prefix", mode="before")
    @classmethod
    def _required(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError(
                "prefix is required (e.g. MYAPP_): without it the sidecar's whole environment "
                "would be readable as secrets"
            )
        return value


class EnvSecretStore:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="secretstores.local.env")
    Metadata: ClassVar[type[BaseMetadata]] = EnvSecretStoreMetadata

    def __init__(self, metadata: EnvSecretStoreMetadata, *, context: ComponentContext) -> None:
        self._prefix = metadata.prefix
        self._ctx = context

    async def init(self) -> None:
        if _hidden(self._prefix):
            raise ValueError(
                f"secretstores.local.env {self._ctx.name}: prefix {self._prefix!r} names "
                "variables that are never secrets (DAPR_*, APP_API_TOKEN)"
            )

    async def close(self) -> None:
        return None

    def features(self) -> frozenset[SecretStoreFeature]:
        return frozenset()

    async def get(self, name: str, metadata: Mapping[str, str]) -> dict[str, str] | None:
        variable = self._prefix + name
        if not name or "\x00" in variable or "=" in name or _hidden(variable):
            return None
        value = os.environ.get(variable)
        return None if value is None else {name: value}

    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        n = len(self._prefix)
        return {
            variable[n:]: {variable[n:]: value}
            for variable, value in os.environ.items()
            if variable.startswith(self._prefix) and len(variable) > n and not _hidden(variable)
        }
