"""One policy runner for every target: retry( breaker( timeout( operation ) ) ).

This is Dapr's order (pkg/resiliency/policy.go): each attempt gets its own timeout; the
breaker sees every attempt (a timed-out attempt is a failure); the retry loop wraps both and
never retries an open breaker (``BreakerOpen`` fails fast), a client error or, with
``matching``, a status it does not list. Callers with no policy for a target get ``None``
from ``Resiliency`` and call the operation directly: that is the fast path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from runtime.resiliency.breaker import BreakerOpen, CircuitBreaker
from runtime.resiliency.classify import is_client_error
from runtime.resiliency.retry import RetryPolicy

__all__ = ["NOOP_EVENTS", "PolicyEvents", "Runner"]

T = TypeVar("T")


class PolicyEvents(Protocol):
    """What the runner reports (``Metrics`` implements it); called on the event loop."""

    def resiliency_retry(self, target: str, policy: str) -> None: ...
    def resiliency_timeout(self, target: str, policy: str) -> None: ...
    def resiliency_rejected(self, target: str, policy: str) -> None: ...
    def set_circuit_breaker_state(self, target: str, state: str) -> None: ...


class _NoEvents:
    def resiliency_retry(self, target: str, policy: str) -> None:
        pass

    def resiliency_timeout(self, target: str, policy: str) -> None:
        pass

    def resiliency_rejected(self, target: str, policy: str) -> None:
        pass

    def set_circuit_breaker_state(self, target: str, state: str) -> None:
        pass


NOOP_EVENTS: PolicyEvents = _NoEvents()


class Runner:
    """The policies of one target (``components.statestore.outbound``, ``apps.orders``).

    One instance per target, shared by all its calls, so its breaker sees all of them.
    """

    __slots__ = (
        "_sleep",
        "breaker",
        "breaker_name",
        "events",
        "retry",
        "target",
        "timeout",
        "timeout_name",
    )

    def __init__(
        self,
        target: str,
        *,
        timeout: float | None = None,
        timeout_name: str = "",
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        breaker_name: str = "",
        events: PolicyEvents = NOOP_EVENTS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.target = target
        self.timeout = timeout if timeout and timeout > 0 else None
        self.timeout_name = timeout_name
        self.retry = retry
        self.breaker = breaker
        self.breaker_name = breaker_name
        self.events = events
        self._sleep = sleep

    async def run(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` (a fresh awaitable per call) under the policies; the last
        attempt's exception propagates unchanged (``TimeoutError`` for a timed-out attempt,
        ``BreakerOpen`` when the breaker refused)."""
        retry = self.retry
        if retry is None:
            return await self._attempt(operation)
        waits = retry.waits()
        done = 0
        while True:
            try:
                return await self._attempt(operation)
            except Exception as exc:
                if not retry.should_retry(exc, done):
                    raise
            done += 1
            self.events.resiliency_retry(self.target, retry.name)
            await self._sleep(next(waits))

    async def _attempt(self, operation: Callable[[], Awaitable[T]]) -> T:
        breaker = self.breaker
        if breaker is None:
            return await self._timed(operation)
        try:
            generation = breaker.before()
        except BreakerOpen:
            self.events.resiliency_rejected(self.target, self.breaker_name)
            raise
        try:
            result = await self._timed(operation)
        except asyncio.CancelledError:
            breaker.release(generation)
            raise
        except Exception as exc:
            breaker.after(generation, ok=is_client_error(exc))
            raise
        breaker.after(generation, ok=True)
        return result

    async def _timed(self, operation: Callable[[], Awaitable[T]]) -> T:
        if self.timeout is None:
            return await operation()
        scope = asyncio.timeout(self.timeout)
        try:
            async with scope:
                return await operation()
        except TimeoutError:
            if scope.expired():
                self.events.resiliency_timeout(self.target, self.timeout_name)
            raise
