"""Per-attempt timeouts for one target with one timer, not one timer per attempt.

``asyncio.timeout`` arms and cancels a loop timer for every call (~7-15 us on the development
machine, about a tenth of a state GET's sidecar CPU). All attempts of one target have the same
timeout, and the loop's clock only moves forward, so their deadlines arrive in the order the
attempts started: a FIFO queue holds them and a single timer, armed for the oldest pending
deadline, cancels the attempts that outlive it. Under steady traffic that timer fires about
once per timeout period. Finished attempts are dropped from the head of the queue as they
finish, so the queue stays about as long as the number of attempts in flight.

The cancellation follows ``asyncio.timeout``'s contract: the expired task is cancelled, and
``Deadlines.finish`` uncancels it and turns the ``CancelledError`` into ``TimeoutError``
unless someone else cancelled the task as well. One event loop at a time (the sidecar's).
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Deadline", "Deadlines"]

_PENDING, _DONE, _EXPIRED = 0, 1, 2
_SLACK = 0.001  # loop timers may fire up to a clock tick early


class Deadline:
    __slots__ = ("cancelling", "state", "task", "when")

    def __init__(self, when: float, task: asyncio.Task[object], cancelling: int) -> None:
        self.when = when
        self.task = task
        self.cancelling = cancelling
        self.state = _PENDING

    @property
    def expired(self) -> bool:
        return self.state == _EXPIRED


class Deadlines:
    __slots__ = ("_handle", "_loop", "_queue", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._queue: deque[Deadline] = deque()
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> Deadline:
        """A deadline ``timeout`` from now for the current task."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests): forget the old one's state
            self._loop, self._handle = loop, None
            self._queue.clear()
        task = asyncio.current_task(loop)
        assert task is not None
        deadline = Deadline(loop.time() + self.timeout, task, task.cancelling())
        self._queue.append(deadline)
        if self._handle is None:
            self._handle = loop.call_at(deadline.when, self._fire)
        return deadline

    def finish(self, deadline: Deadline, exc: BaseException | None) -> bool:
        """Mark the attempt finished; True when it timed out (``exc`` should then be replaced
        by ``TimeoutError``)."""
        timed_out = False
        if deadline.state == _EXPIRED:
            timed_out = deadline.task.uncancel() <= deadline.cancelling and isinstance(
                exc, asyncio.CancelledError
            )
        deadline.state = _DONE if deadline.state == _PENDING else deadline.state
        queue = self._queue
        while queue and queue[0].state != _PENDING:
            queue.popleft()
        return timed_out

    def _fire(self) -> None:
        self._handle = None
        loop = self._loop
        assert loop is not None
        now = loop.time() + _SLACK
        queue = self._queue
        while queue:
            head = queue[0]
            if head.state == _PENDING:
                if head.when > now:
                    break
                head.state = _EXPIRED
                head.task.cancel()
            queue.popleft()
        if queue:
            self._handle = loop.call_at(queue[0].when, self._fire)
