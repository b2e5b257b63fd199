"""``Batcher``: writes issued together go to the broker together.

Items submitted while a flush runs are flushed together in the next one (at most ``size``): one
transaction or one pipeline for many publishes or acknowledgements under load, and no added
delay for a lone item.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from components.errors import ComponentError

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")

_Pending = tuple[T, "asyncio.Future[R] | None"]


class Batcher(Generic[T, R]):
    """Items submitted while a flush runs go together into the next one (at most ``size``).

    ``flush(items)`` returns one result per item, or raises (every item of the batch fails).
    ``submit`` awaits the item's result; ``push`` does not (a failure is reported to
    ``on_error``). ``drain()`` returns once nothing is pending.
    """

    def __init__(
        self,
        flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        size: int = 512,
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._flush = flush
        self._size = size
        self._on_error = on_error
        self._pending: list[_Pending[T, R]] = []
        self._task: asyncio.Task[None] | None = None

    def _add(self, item: T, future: asyncio.Future[R] | None) -> None:
        self._pending.append((item, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pubsub batch")

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._add(item, future)
        return await future

    def push(self, item: T) -> None:
        self._add(item, None)

    async def _run(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._size]
                del self._pending[: self._size]
                try:
                    results = await self._flush([item for item, _ in batch])
                except BaseException as exc:
                    self._fail(batch, exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future is not None and not future.done():
                        future.set_result(result)
        finally:
            self._task = None
            if self._pending:  # cancelled: nothing more will be flushed
                self._fail(self._pending, ComponentError("closed before the write was made"))
                self._pending = []

    def _fail(
        self, batch: Sequence[tuple[T, asyncio.Future[R] | None]], exc: BaseException
    ) -> None:
        error = exc if isinstance(exc, Exception) else ComponentError("write cancelled")
        if any(future is None for _, future in batch):
            self._on_error(error)
        for _, future in batch:
            if future is not None and not future.done():
                future.set_exception(error)

    async def drain(self) -> None:
        while self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._task)
