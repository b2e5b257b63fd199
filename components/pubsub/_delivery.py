"""Local delivery for pull-based brokers: received messages run through the handler, bounded.

``Deliveries`` holds the messages a subscription has taken from its broker and not yet settled
(at most ``limit``), and runs the handler on them in receive order with at most ``concurrency``
calls at a time. When a call ends it calls ``settle(token, ack)`` (a handler exception is
``NACK``) without awaiting: the component queues the broker operation. ``aclose`` cancels the
calls in flight and returns the tokens of every message still held (in flight or waiting), so
the component can hand them back to the broker.

A receive loop that found a backlog asks ``wait_free(batch)``: it then takes ``batch`` or more
messages per broker read instead of one per settled message (each read is a round trip);
otherwise ``wait_free()`` returns as soon as one slot is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from components.pubsub._types import Ack, Handler, Message

__all__ = ["Deliveries"]

T = TypeVar("T")


class Deliveries(Generic[T]):
    def __init__(
        self,
        handler: Handler,
        *,
        concurrency: int,
        limit: int,
        settle: Callable[[T, Ack], None],
        log: logging.Logger,
        name: str,
    ) -> None:
        self._handler = handler
        self._settle = settle
        self._log = log
        self.limit = max(limit, concurrency, 1)
        # a read under backlog waits for this many free slots (the rest stay queued meanwhile)
        self.batch = max(1, min(concurrency, self.limit // 2))
        self._want = 1  # free slots the waiting receive loop needs (wakes it only then)
        self._held: dict[str, T] = {}  # message id -> broker token
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._freed = asyncio.Event()
        self._workers = [
            asyncio.create_task(self._work(), name=name) for _ in range(max(1, concurrency))
        ]

    def free(self) -> int:
        """How many more messages may be taken from the broker now."""
        return self.limit - len(self._held)

    def held(self) -> list[T]:
        return list(self._held.values())

    async def wait_free(self, at_least: int = 1) -> int:
        """Returns the number of free slots once it is ``at_least`` (capped by ``limit``)."""
        want = max(1, min(at_least, self.limit))
        while self.limit - len(self._held) < want:
            self._want = want
            self._freed.clear()
            await self._freed.wait()
        return self.limit - len(self._held)

    def put(self, message: Message, token: T) -> bool:
        """Queue ``message``; False (ignored) when a message with its id is already held."""
        if message.id in self._held:
            return False
        self._held[message.id] = token
        self._queue.put_nowait(message)
        return True

    async def _work(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                ack = await self._handler(message)
            except asyncio.CancelledError:
                raise  # still held: aclose hands it back
            except Exception:
                self._log.debug("handler failed on message %s", message.id, exc_info=True)
                ack = Ack.NACK
            held = self._held
            token = held.pop(message.id)
            if self.limit - len(held) >= self._want:
                self._freed.set()
            try:
                self._settle(token, Ack.ACK if ack is Ack.ACK else Ack.NACK)
            except Exception:
                self._log.exception("settling message %s failed", message.id)

    async def aclose(self) -> list[T]:
        """Cancel the handler calls; returns the tokens of the messages left unsettled."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        left = list(self._held.values())
        self._held.clear()
        return left
