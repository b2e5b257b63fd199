"""Runner: retry(breaker(timeout(op))), Dapr's order, with recorded events and waits."""

from __future__ import annotations

import asyncio

import pytest

from components.errors import ETagMismatch
from runtime.resiliency.breaker import BreakerOpen, BreakerState, CircuitBreaker
from runtime.resiliency.retry import RetryPolicy
from runtime.resiliency.runner import Runner
from runtime.resiliency.trip import compile_trip
from tests.unit.resiliency._support import Clock, Recorder

TARGET = "components.store.outbound"


def runner(rec: Recorder, clock: Clock | None = None, **kw: object) -> Runner:
    return Runner(TARGET, events=rec, sleep=rec.sleep, **kw)  # type: ignore[arg-type]


def cb(rec: Recorder, clock: Clock, trip: str, timeout: float = 5.0) -> CircuitBreaker:
    return CircuitBreaker(
        trip=compile_trip(trip),
        timeout=timeout,
        clock=clock,
        on_change=lambda s: rec.set_circuit_breaker_state(TARGET, s.value),
    )


class Flaky:
    """Fails ``failures`` times with ``exc``, then returns the attempt number."""

    def __init__(self, failures: int, exc: Exception | None = None) -> None:
        self.failures = failures
        self.exc = exc or ConnectionError("down")
        self.attempts = 0

    async def __call__(self) -> int:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.exc
        return self.attempts


async def test_retries_until_success_with_the_policy_waits() -> None:
    rec = Recorder()
    op = Flaky(2)
    run = runner(rec, retry=RetryPolicy(name="fast", duration=0.01, max_retries=3))
    assert await run.run(op) == 3
    assert rec.waits == [0.01, 0.01]
    assert rec.kinds() == ["retry", "retry"]


async def test_gives_up_after_max_retries_with_the_last_error() -> None:
    rec = Recorder()
    op = Flaky(10)
    run = runner(rec, retry=RetryPolicy(name="fast", duration=0.01, max_retries=2))
    with pytest.raises(ConnectionError):
        await run.run(op)
    assert op.attempts == 3


async def test_client_errors_are_not_retried_nor_counted_by_the_breaker() -> None:
    rec, clock = Recorder(), Clock()
    breaker = cb(rec, clock, "consecutiveFailures >= 1")
    op = Flaky(5, ETagMismatch("k"))
    run = runner(rec, retry=RetryPolicy(name="r", duration=0.01), breaker=breaker)
    with pytest.raises(ETagMismatch):
        await run.run(op)
    assert op.attempts == 1
    assert breaker.state is BreakerState.CLOSED
    assert breaker.counts.total_successes == 1  # the store answered: it is healthy


async def test_order_timeout_inside_breaker_inside_retry() -> None:
    """Each attempt times out (timeout), the breaker counts both timeouts and opens (breaker
    sees attempts), the next attempt is refused at once and not retried (retry outside)."""
    rec, clock = Recorder(), Clock()
    attempts = 0

    async def hangs() -> None:
        nonlocal attempts
        attempts += 1
        await asyncio.Event().wait()

    run = runner(
        rec,
        timeout=0.01,
        timeout_name="short",
        retry=RetryPolicy(name="forever", duration=0.001, max_retries=-1),
        breaker=cb(rec, clock, "consecutiveFailures >= 2"),
        breaker_name="cb",
    )
    with pytest.raises(BreakerOpen):
        await run.run(hangs)
    assert attempts == 2
    assert rec.kinds() == ["timeout", "retry", "timeout", "breaker:open", "retry", "rejected"]
    # while open, every call fails fast without touching the operation
    with pytest.raises(BreakerOpen):
        await run.run(hangs)
    assert attempts == 2
    assert rec.kinds()[-1] == "rejected"


async def test_half_open_probe_closes_the_breaker() -> None:
    rec, clock = Recorder(), Clock()
    breaker = cb(rec, clock, "consecutiveFailures >= 1", timeout=2.0)
    run = runner(rec, breaker=breaker, breaker_name="cb")
    with pytest.raises(ConnectionError):
        await run.run(Flaky(1))
    with pytest.raises(BreakerOpen):
        await run.run(Flaky(0))
    clock.advance(2.0)
    assert await run.run(Flaky(0)) == 1
    assert [s for k, _, s in rec.log if k == "breaker"] == ["open", "half-open", "closed"]


async def test_timeout_applies_per_attempt() -> None:
    rec = Recorder()
    calls = 0

    async def slow_then_fast() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()
        return "ok"

    run = runner(rec, timeout=0.01, retry=RetryPolicy(name="r", duration=0.001, max_retries=1))
    assert await run.run(slow_then_fast) == "ok"
    assert rec.kinds() == ["timeout", "retry"]


async def test_an_operations_own_timeout_error_is_not_counted_as_a_policy_timeout() -> None:
    rec = Recorder()
    run = runner(rec, timeout=10.0, retry=RetryPolicy(name="r", duration=0.001, max_retries=1))
    with pytest.raises(TimeoutError):
        await run.run(Flaky(5, TimeoutError()))
    assert rec.kinds() == ["retry"]


async def test_cancellation_is_not_a_breaker_failure() -> None:
    rec, clock = Recorder(), Clock()
    breaker = cb(rec, clock, "consecutiveFailures >= 1")
    run = runner(rec, breaker=breaker)
    task = asyncio.create_task(run.run(lambda: asyncio.Event().wait()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is BreakerState.CLOSED
    assert breaker.counts.requests == 0
