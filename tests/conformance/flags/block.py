"""The feature-flags block (flag sources) as the shared conformance harness sees it.

Matrix fields of its own (``components.yaml``):
  flagKeys: the flag keys the manifest's source serves after ``init()``.

Feature coherence: WATCH has no capability Protocol (every source has ``subscribe``); a source
that does not declare it simply never calls its subscribers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.flags import FlagSourceFeature
from tests.conformance._harness import Block, Case, FeatureCheck

__all__ = ["FLAGS", "FlagsOptions"]


class FlagsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    flag_keys: list[str] = Field(alias="flagKeys")


async def _watch(source: Any, _: Case[Any], __: str) -> None:
    source.subscribe(lambda: None)()


FLAGS: Block[FlagsOptions] = Block(
    name="flags",
    features=FlagSourceFeature,
    declared=lambda source: source.features(),
    options=FlagsOptions,
    checks={FlagSourceFeature.WATCH: FeatureCheck(protocol=None, probe=_watch)},
)
