"""CircuitBreaker: closed → open → half-open → closed, on a manual clock."""

from __future__ import annotations

import pytest

from runtime.resiliency.breaker import BreakerOpen, BreakerState, CircuitBreaker
from runtime.resiliency.trip import compile_trip
from tests.unit.resiliency._support import Clock


def breaker(clock: Clock, **kw: object) -> tuple[CircuitBreaker, list[BreakerState]]:
    changes: list[BreakerState] = []
    cb = CircuitBreaker(
        trip=compile_trip(str(kw.pop("trip", "consecutiveFailures >= 3"))),
        clock=clock,
        on_change=changes.append,
        **kw,  # type: ignore[arg-type]
    )
    return cb, changes


def state(cb: CircuitBreaker) -> BreakerState:
    return cb.state  # a call, so that mypy does not narrow the property between asserts


def fail(cb: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        cb.after(cb.before(), ok=False)


def test_trips_after_the_expression_holds_and_fails_fast() -> None:
    clock = Clock()
    cb, changes = breaker(clock, timeout=5.0)
    fail(cb, 2)
    assert state(cb) is BreakerState.CLOSED
    fail(cb)
    assert state(cb) is BreakerState.OPEN
    assert changes == [BreakerState.OPEN]
    with pytest.raises(BreakerOpen, match="circuit breaker is open"):
        cb.before()


def test_a_success_resets_consecutive_failures() -> None:
    cb, _ = breaker(Clock())
    fail(cb, 2)
    cb.after(cb.before(), ok=True)
    fail(cb, 2)
    assert state(cb) is BreakerState.CLOSED
    assert cb.counts.total_failures == 4


def test_half_open_after_timeout_then_closes_on_max_requests_successes() -> None:
    clock = Clock()
    cb, changes = breaker(clock, timeout=5.0, max_requests=2)
    fail(cb, 3)
    clock.advance(4.9)
    assert state(cb) is BreakerState.OPEN
    clock.advance(0.2)
    assert state(cb) is BreakerState.HALF_OPEN
    first, second = cb.before(), cb.before()
    with pytest.raises(BreakerOpen, match="half-open"):
        cb.before()  # only max_requests probes at a time
    cb.after(first, ok=True)
    assert state(cb) is BreakerState.HALF_OPEN
    cb.after(second, ok=True)
    assert state(cb) is BreakerState.CLOSED
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_a_failed_probe_reopens_for_a_full_timeout() -> None:
    clock = Clock()
    cb, _ = breaker(clock, timeout=5.0)
    fail(cb, 3)
    clock.advance(5.0)
    fail(cb)
    assert state(cb) is BreakerState.OPEN
    clock.advance(4.0)
    assert state(cb) is BreakerState.OPEN


def test_interval_clears_counts_while_closed() -> None:
    clock = Clock()
    cb, _ = breaker(clock, interval=10.0)
    fail(cb, 2)
    clock.advance(10.0)
    fail(cb, 2)
    assert state(cb) is BreakerState.CLOSED
    fail(cb)
    assert state(cb) is BreakerState.OPEN


def test_stale_outcomes_are_ignored_and_release_frees_a_probe_slot() -> None:
    clock = Clock()
    cb, _ = breaker(clock, timeout=1.0)
    old = cb.before()
    fail(cb, 3)
    cb.after(old, ok=True)  # started before the breaker opened: ignored
    assert state(cb) is BreakerState.OPEN
    clock.advance(1.0)
    probe = cb.before()
    cb.release(probe)  # e.g. the caller went away
    cb.after(cb.before(), ok=True)
    assert state(cb) is BreakerState.CLOSED
