"""``ComponentCalls``: one block's component calls, observed and run under their resiliency.

Every building-block service calls its components the same way: each attempt is one observed
component call (span + metrics), and the attempts run under the component's
``components.<name>.outbound`` policies. A component with no policy (or no ``Resiliency`` at
all) takes the fast path: one observed call, no runner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from runtime.observability import NOOP_OBSERVER, Observer

if TYPE_CHECKING:
    from runtime.resiliency import Resiliency, Runner

__all__ = ["ComponentCalls"]

T = TypeVar("T")


class ComponentCalls:
    """Calls to the components of ``block`` (``state``, ``secretstores``, ``configuration``)."""

    def __init__(
        self,
        block: str,
        *,
        observer: Observer = NOOP_OBSERVER,
        resiliency: Resiliency | None = None,
    ) -> None:
        self._block = block
        self._observer = observer
        self._resiliency = resiliency
        self._runners: dict[str, Runner | None] = {}  # component -> its outbound policies

    def runner(self, name: str) -> Runner | None:
        """Component ``name``'s outbound resiliency policies, or None (resolved once)."""
        if self._resiliency is None:
            return None
        try:
            return self._runners[name]
        except KeyError:
            runner = self._runners[name] = self._resiliency.component_outbound(name, self._block)
            return runner

    async def run(self, name: str, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        """``fn()`` (a fresh awaitable per call) on component ``name``: the last attempt's
        exception propagates unchanged (``TimeoutError``, ``BreakerOpen`` from the runner)."""
        runner = self.runner(name)
        if runner is None:  # fast path: no policy
            async with self._observer.component_call(self._block, name, op):
                return await fn()
        return await runner.run(lambda: self._observed(name, op, fn))

    async def _observed(self, name: str, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        async with self._observer.component_call(self._block, name, op):
            return await fn()
