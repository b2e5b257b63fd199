"""A circuit breaker with Dapr's semantics (gobreaker's state machine).

closed     calls pass; outcomes are counted. When a failure makes ``trip(counts)`` true the
           breaker opens. With ``interval > 0`` the counts are cleared every ``interval``.
open       calls fail at once with ``BreakerOpen`` until ``timeout`` has passed, then
           half-open.
half-open  at most ``max_requests`` calls pass; ``max_requests`` consecutive successes close
           the breaker, any failure opens it again (further calls get ``BreakerOpen``).

Single-threaded by contract (the event loop); no locks. The clock is injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

import msgspec

from runtime.resiliency.trip import TripFn

__all__ = ["BreakerOpen", "BreakerState", "CircuitBreaker", "Counts"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half-open"
    OPEN = "open"


class BreakerOpen(Exception):
    """The breaker refused the call (open, or half-open with its probes in flight)."""

    def __init__(self, state: BreakerState) -> None:
        super().__init__(
            "circuit breaker is open"
            if state is BreakerState.OPEN
            else "too many requests: circuit breaker is half-open"
        )
        self.state = state


class Counts(msgspec.Struct):
    requests: int = 0
    total_successes: int = 0
    total_failures: int = 0
    consecutive_successes: int = 0
    consecutive_failures: int = 0

    def success(self) -> None:
        self.total_successes += 1
        self.consecutive_successes += 1
        self.consecutive_failures = 0

    def failure(self) -> None:
        self.total_failures += 1
        self.consecutive_failures += 1
        self.consecutive_successes = 0


class CircuitBreaker:
    """``before()`` admits a call (or raises BreakerOpen) and returns its generation;
    ``after(generation, ok)`` records its outcome; ``release(generation)`` forgets a call that
    ended without an outcome (cancelled), so a half-open slot is never leaked."""

    __slots__ = (
        "_clock",
        "_expiry",
        "_generation",
        "_on_change",
        "_state",
        "counts",
        "interval",
        "max_requests",
        "timeout",
        "trip",
    )

    def __init__(
        self,
        *,
        trip: TripFn,
        max_requests: int = 1,
        interval: float = 0.0,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.trip = trip
        self.max_requests = max(1, max_requests)
        self.interval = interval
        self.timeout = timeout
        self.counts = Counts()
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._expiry = 0.0
        self._new_generation(clock())

    @property
    def state(self) -> BreakerState:
        self._current(self._clock())
        return self._state

    def before(self) -> int:
        if self._state is BreakerState.CLOSED and not self._expiry:  # fast path: no clock
            self.counts.requests += 1
            return self._generation
        now = self._clock()
        state = self._current(now)
        if state is BreakerState.OPEN:
            raise BreakerOpen(state)
        if state is BreakerState.HALF_OPEN and self.counts.requests >= self.max_requests:
            raise BreakerOpen(state)
        self.counts.requests += 1
        return self._generation

    def after(self, generation: int, ok: bool) -> None:
        if ok and self._state is BreakerState.CLOSED and not self._expiry:  # fast path
            if generation == self._generation:
                counts = self.counts
                counts.total_successes += 1
                counts.consecutive_successes += 1
                counts.consecutive_failures = 0
            return
        now = self._clock()
        state = self._current(now)
        if generation != self._generation:
            return  # the call started in an earlier generation: its outcome is stale
        if ok:
            self.counts.success()
            if (
                state is BreakerState.HALF_OPEN
                and self.counts.consecutive_successes >= self.max_requests
            ):
                self._set(BreakerState.CLOSED, now)
        elif state is BreakerState.HALF_OPEN:
            self._set(BreakerState.OPEN, now)
        else:
            self.counts.failure()
            if state is BreakerState.CLOSED and self.trip(self.counts):
                self._set(BreakerState.OPEN, now)

    def release(self, generation: int) -> None:
        if generation == self._generation and self.counts.requests > 0:
            self.counts.requests -= 1

    # ---- state machine ------------------------------------------------------------------

    def _current(self, now: float) -> BreakerState:
        if self._state is BreakerState.CLOSED:
            if self._expiry and self._expiry <= now:
                self._new_generation(now)
        elif self._state is BreakerState.OPEN and self._expiry <= now:
            self._set(BreakerState.HALF_OPEN, now)
        return self._state

    def _set(self, state: BreakerState, now: float) -> None:
        if state is self._state:
            return
        self._state = state
        self._new_generation(now)
        if self._on_change is not None:
            self._on_change(state)

    def _new_generation(self, now: float) -> None:
        self._generation += 1
        self.counts = Counts()
        if self._state is BreakerState.CLOSED:
            self._expiry = now + self.interval if self.interval > 0 else 0.0
        elif self._state is BreakerState.OPEN:
            self._expiry = now + self.timeout
        else:
            self._expiry = 0.0
