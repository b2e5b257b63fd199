"""What the broker components share: a bounded set of handler calls per subscription, the
handler's verdict (an exception is a NACK), topic checks and a reconnect backoff.

No broker code lives here; each component decides how to settle a message with its broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Coroutine
from typing import Any

from components.errors import InvalidRequest, NotSupported
from components.pubsub._types import Ack, Handler, Message

__all__ = ["Backoff", "Dispatcher", "check_topic", "is_pattern", "verdict"]


def is_pattern(topic: str) -> bool:
    """An MQTT-style pattern (``+`` one level, ``#`` the rest), as the contract defines it."""
    return "+" in topic or "#" in topic


def check_topic(topic: str, *, subscribing: bool, wildcards: bool) -> None:
    """The contract's topic rules: non-empty; a pattern only when subscribing with
    SUBSCRIBE_WILDCARDS (``NotSupported`` without it); never a pattern when publishing."""
    if not topic:
        raise InvalidRequest("empty topic name")
    if is_pattern(topic):
        if not subscribing:
            raise InvalidRequest(f"cannot publish to the pattern {topic!r}")
        if not wildcards:
            raise NotSupported(f"wildcard subscriptions are not supported (topic {topic!r})")


async def verdict(handler: Handler, message: Message, log: logging.Logger) -> Ack:
    """The handler's answer; an exception (other than cancellation) counts as NACK."""
    try:
        return await handler(message)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.debug("handler failed on message %s", message.id, exc_info=True)
        return Ack.NACK


class Dispatcher:
    """The handler calls of one subscription: at most ``limit`` run at a time.

    The receive loop asks ``wait_free()`` how many messages it may take, then ``spawn``s one
    call per message; ``cancel()`` cancels every call and returns once none runs.
    """

    def __init__(self, limit: int, name: str) -> None:
        self._limit = max(1, limit)
        self._name = name
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def wait_free(self) -> int:
        """The number of free slots, once there is at least one."""
        while len(self._tasks) >= self._limit:
            self._changed.clear()
            await self._changed.wait()
        return self._limit - len(self._tasks)

    async def idle(self) -> None:
        """Returns once no handler call runs."""
        while self._tasks:
            self._changed.clear()
            await self._changed.wait()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work, name=self._name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._changed.set()

    async def cancel(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class Backoff:
    """Jittered exponential pauses between reconnect attempts: ``base`` doubling to ``cap``."""

    def __init__(self, base: float = 0.05, cap: float = 2.0) -> None:
        self._base = base
        self._cap = cap
        self._attempt = 0

    def reset(self) -> None:
        self._attempt = 0

    async def sleep(self) -> None:
        pause = min(self._cap, self._base * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        await asyncio.sleep(pause * (0.5 + random.random() / 2))
