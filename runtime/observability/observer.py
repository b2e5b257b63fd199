"""The one seam through which building-block services record component calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["NOOP_OBSERVER", "Observer"]


class Observer:
    """Records a span and metrics around each component operation.

    ``component_call`` is used as ``async with observer.component_call("state", "statestore",
    "get"):``. The base class records nothing; the configured observer overrides it.
    """

    @asynccontextmanager
    async def component_call(self, block: str, component: str, operation: str) -> AsyncIterator[None]:
        yield


NOOP_OBSERVER = Observer()
