"""The configuration block as the shared conformance harness sees it.

Matrix fields of its own (``components.yaml``):
  updater:          how the cases change items behind the store's back, straight in the backend
                    (``file``, ``redis`` or ``postgresql``; see ``harness.py``)
  deleteKeepsItem:  true when a deletion is reported with the deleted item (PostgreSQL sends the
                    row), false when with an empty item (Redis, file)

Configuration stores declare no optional features: every store gets and subscribes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from components.configuration import ConfigurationFeature
from tests.conformance._harness import Block

__all__ = ["CONFIGURATION", "ConfigurationOptions"]


class ConfigurationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    updater: Literal["file", "redis", "postgresql"]
    delete_keeps_item: bool = Field(alias="deleteKeepsItem")


CONFIGURATION: Block[ConfigurationOptions] = Block(
    name="configuration",
    features=ConfigurationFeature,
    declared=lambda store: store.features(),
    options=ConfigurationOptions,
    checks={},
)
