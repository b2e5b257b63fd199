"""Deadlines: one timer for all the attempts of a target, asyncio.timeout's semantics."""

from __future__ import annotations

import asyncio

import pytest

from runtime.resiliency.retry import RetryPolicy
from runtime.resiliency.runner import Runner
from tests.unit.resiliency._support import Recorder


async def test_only_the_attempts_that_outlive_the_timeout_fail() -> None:
    rec = Recorder()
    run = Runner("t", timeout=0.05, timeout_name="short", events=rec)
    release = asyncio.Event()

    async def fast() -> str:
        return "fast"

    async def slow() -> str:
        await asyncio.Event().wait()
        return "never"

    async def answers_when_released() -> str:
        await release.wait()
        return "released"

    tasks = [asyncio.create_task(run.run(slow)) for _ in range(5)]
    tasks += [asyncio.create_task(run.run(answers_when_released)) for _ in range(5)]
    assert await run.run(fast) == "fast"
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r) for r in results[:5]] == [TimeoutError] * 5
    assert results[5:] == ["released"] * 5
    assert rec.kinds() == ["timeout"] * 5
    assert not run._deadlines._queue  # type: ignore[union-attr]  # nothing left behind


async def test_a_later_attempt_gets_its_own_full_timeout() -> None:
    run = Runner("t", timeout=0.2, retry=RetryPolicy(name="r", duration=0.001, max_retries=1))
    attempts = 0

    async def hangs_once() -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            await asyncio.Event().wait()
        await asyncio.sleep(0.02)  # shorter than the timeout, after the first attempt expired
        return attempts

    assert await run.run(hangs_once) == 2


async def test_an_outside_cancellation_stays_a_cancellation() -> None:
    rec = Recorder()
    run = Runner("t", timeout=10.0, events=rec)
    task = asyncio.create_task(run.run(lambda: asyncio.Event().wait()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rec.kinds() == []


async def test_the_operations_cancellation_handling_runs() -> None:
    run = Runner("t", timeout=0.02)
    cleaned = asyncio.Event()

    async def op() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    with pytest.raises(TimeoutError):
        await run.run(op)
    assert cleaned.is_set()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
