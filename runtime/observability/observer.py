"""The one seam through which building-block services record component calls."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext

__all__ = ["NOOP_OBSERVER", "Observer"]

_NOTHING: nullcontext[None] = nullcontext()  # reusable: entering and leaving it does nothing


class Observer:
    """Records a span and metrics around each component operation.

    ``component_call`` is used as ``async with observer.component_call("state", "statestore",
    "get"):``. The base class records nothing (and allocates nothing); the configured
    observer, ``runtime.observability.component_telemetry.TelemetryObserver``, overrides it. An
    exception leaving the block marks the call failed and propagates unchanged.
    """

    def component_call(
        self, block: str, component: str, operation: str
    ) -> AbstractAsyncContextManager[None]:
        return _NOTHING

    def pubsub_published(self, component: str, topic: str, *, success: bool) -> None:
        """One publish (single or bulk entry) ended."""

    def pubsub_delivery(self, component: str, topic: str, outcome: str) -> None:
        """A delivery attempt or its end: ``success``, ``retry``, ``drop`` or ``deadletter``."""


NOOP_OBSERVER = Observer()
