"""What every flag source shares: metadata options, the snapshot and change callbacks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from pydantic import Field

from components.base import BaseMetadata, ComponentContext
from components.flags._api import FlagSourceFeature, Fractional
from components.flags._types import FlagSetSnapshot

__all__ = ["SourceBase", "SourceMetadata"]


class SourceMetadata(BaseMetadata):
    flag_set_id: str | None = Field(default=None, alias="flagSetId")
    fractional: Literal["v2", "v3"] = "v3"


class SourceBase:
    """The snapshot, its subscribers, and the two metadata options every source has."""

    FEATURES: frozenset[FlagSourceFeature] = frozenset({FlagSourceFeature.WATCH})

    def __init__(self, metadata: SourceMetadata, *, context: ComponentContext) -> None:
        self._meta = metadata
        self._log: logging.Logger = context.logger
        self._snapshot = FlagSetSnapshot(document={"flags": {}}, revision="")
        self._callbacks: list[Callable[[], None]] = []

    @property
    def flag_set_id(self) -> str | None:
        return self._meta.flag_set_id

    @property
    def fractional(self) -> Fractional:
        return self._meta.fractional

    def features(self) -> frozenset[FlagSourceFeature]:
        return self.FEATURES

    def flags(self) -> FlagSetSnapshot:
        return self._snapshot

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def _publish(self, snapshot: FlagSetSnapshot) -> bool:
        """Serve ``snapshot``; True (and subscribers called) when it differs."""
        if snapshot.revision == self._snapshot.revision:
            return False
        self._snapshot = snapshot
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception:
                self._log.exception("flag change subscriber failed")
        return True
