"""The flag-source contract: a component that serves flagd flag sets and says when they change.

A source's ``init()`` loads its first snapshot (a source that cannot is a start-up error);
afterwards it keeps the last good snapshot when an update is broken (logging where), and calls
every ``subscribe``\\ d callback after ``flags()`` starts returning a new snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from components.base import Component
from components.configuration import ConfigurationStore
from components.flags._types import FlagSetSnapshot

__all__ = ["FlagSource", "FlagSourceFeature", "Fractional", "StoreBoundSource"]

Fractional = Literal["v2", "v3"]
"""The ``fractional`` bucketing generation: ``v3`` (CBOR, flagd-core 2.x, the testbed's
current vectors) or ``v2`` (UTF-8 string hashing, the Go flagd daemon 0.15/0.16)."""


class FlagSourceFeature(StrEnum):
    WATCH = "WATCH"  # pushes changes without a restart


@runtime_checkable
class FlagSource(Component, Protocol):
    @property
    def flag_set_id(self) -> str | None:
        """The flag set id given in the metadata (overrides the document's), or None."""
        ...

    @property
    def fractional(self) -> Fractional: ...

    def features(self) -> frozenset[FlagSourceFeature]: ...

    def flags(self) -> FlagSetSnapshot:
        """The current snapshot (the last good one)."""
        ...

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on the event loop) after every change; returns an unsubscribe."""
        ...

    async def init(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class StoreBoundSource(Protocol):
    """A source whose flags live in a configuration store (``flags.configuration``): after
    every component is initialised, the runtime hands it the store named ``store_name``."""

    @property
    def store_name(self) -> str: ...

    async def bind(self, store: ConfigurationStore) -> None:
        """Load the first snapshot and watch the store; raises (FlagSetError) when it cannot."""
        ...
