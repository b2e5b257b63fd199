"""The secret store block as the shared conformance harness sees it.

Matrix field of its own (``components.yaml``): ``seed`` (``file``, ``env`` or ``redis``): how
``conftest.py`` puts the cases' secrets into the store before it starts.

Feature coherence: MULTIPLE_KEY_VALUES_PER_SECRET has no capability method (every store answers
a map); a store that does not declare it must never answer a secret with more than one key,
which the probe checks over everything the store holds (seeded with a nested secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from components.errors import NotSupported
from components.secretstores import SecretStoreFeature
from tests.conformance._harness import Block, Case, FeatureCheck

__all__ = ["SECRETSTORES", "SecretStoreOptions"]


class SecretStoreOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    seed: Literal["file", "env", "redis"]


@runtime_checkable
class _Readable(Protocol):
    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]: ...


async def _multi(store: Any, _: Case[Any], __: str) -> None:
    found = await store.bulk_get({})
    multi = sorted(name for name, values in found.items() if len(values) != 1)
    if multi:
        return  # reachable: the undeclared feature is there (the test fails)
    raise NotSupported("every secret has exactly one key")


SECRETSTORES: Block[SecretStoreOptions] = Block(
    name="secretstores",
    features=SecretStoreFeature,
    declared=lambda store: store.features(),
    options=SecretStoreOptions,
    checks={
        SecretStoreFeature.MULTIPLE_KEY_VALUES_PER_SECRET: FeatureCheck(
            protocol=_Readable, probe=_multi
        ),
    },
)
