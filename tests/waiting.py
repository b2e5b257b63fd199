"""Polling with a deadline: the only kind of waiting the tests do (never a fixed sleep).

``eventually`` (async; fails the test) and ``wait_until`` (blocking; returns whether the
condition came true, for ``assert wait_until(...), "message"``) are the one implementation of
it, for every test package (``tests.conformance._harness.waiting`` and
``tests.integration.harness`` re-export them). Import only pytest: light enough for any test.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable

import pytest

__all__ = ["eventually", "wait_until"]


async def eventually(check: Callable[[], object], *, within: float, interval: float = 0.1) -> float:
    """Poll ``check`` every ``interval`` until it is true; the seconds it took (for reports).

    ``check`` is a plain predicate or a coroutine function: its result, awaited when it is
    awaitable, is tested for truth. Fails the test when ``within`` seconds pass first.
    """
    start = time.monotonic()
    deadline = start + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            pytest.fail(f"condition not met within {within}s")
        await asyncio.sleep(interval)


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate()`` until it is true (True) or ``timeout`` seconds pass (False).

    Blocks the thread: for tests that drive other processes, never inside an event loop.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
