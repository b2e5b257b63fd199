"""Polling with a deadline: the only kind of waiting the conformance suites do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

__all__ = ["eventually"]


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float, interval: float = 0.1
) -> float:
    """Poll ``check`` every ``interval`` until it is true; the seconds it took.

    Fails the test when ``within`` seconds pass first.
    """
    start = time.monotonic()
    deadline = start + within
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            pytest.fail(f"condition not met within {within}s")
        await asyncio.sleep(interval)
