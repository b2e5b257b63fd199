"""``BaseStateStore``: bulk operations and feature gates a state store can inherit.

Contract:
- ``bulk_get`` runs ``get`` for every request, concurrently (at most ``bulk_concurrency`` at
  a time), and returns one ``BulkGetItem`` per request in request order; a key whose ``get``
  raised has ``item=None`` and ``error`` set, a missing key has neither;
- ``bulk_set`` / ``bulk_delete`` run every single-item operation concurrently, let all of
  them finish, then raise one ``BulkError`` naming each key that failed with its exception;
- ``check_set`` / ``check_delete`` raise ``NotSupported`` for an option whose feature the store
  does not declare (ETags, TTL) and ``InvalidRequest`` for a negative TTL, so undeclared
  features are not reachable (see ``_api``); ``check_set`` returns the effective TTL (a TTL of 0
  means none). Stores call them at the top of ``set``/``delete``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, TypeVar

from components.errors import BulkError, InvalidRequest, NotSupported
from components.state._api import StateFeature
from components.state._types import (
    BulkGetItem,
    DeleteRequest,
    GetRequest,
    SetRequest,
    StateItem,
)

__all__ = ["BaseStateStore", "check_delete", "check_set"]

_In = TypeVar("_In")
_Out = TypeVar("_Out")
_Write = TypeVar("_Write", SetRequest, DeleteRequest)


def check_set(req: SetRequest, features: frozenset[StateFeature]) -> int | None:
    """The TTL ``req`` asks for (None: none, also for ``0``); raises for undeclared features."""
    if req.etag and StateFeature.ETAG not in features:
        raise NotSupported("this state store does not support ETags")
    ttl = req.ttl_seconds
    if ttl is None:
        return None
    if StateFeature.TTL not in features:
        raise NotSupported("this state store does not support TTL")
    if ttl < 0:
        raise InvalidRequest(f"ttl must be a positive number of seconds, not {ttl}")
    return ttl or None


def check_delete(req: DeleteRequest, features: frozenset[StateFeature]) -> None:
    if req.etag and StateFeature.ETAG not in features:
        raise NotSupported("this state store does not support ETags")


async def _run_all(
    fn: Callable[[_In], Awaitable[_Out]], items: Sequence[_In], limit: int
) -> list[_Out]:
    if len(items) == 1:
        return [await fn(items[0])]
    semaphore = asyncio.Semaphore(limit)

    async def guarded(item: _In) -> _Out:
        async with semaphore:
            return await fn(item)

    return list(await asyncio.gather(*(guarded(item) for item in items)))


class BaseStateStore(ABC):
    """Default bulk operations over the single-item ones."""

    bulk_concurrency: ClassVar[int] = 32

    @abstractmethod
    async def get(self, req: GetRequest) -> StateItem | None: ...

    @abstractmethod
    async def set(self, req: SetRequest) -> None: ...

    @abstractmethod
    async def delete(self, req: DeleteRequest) -> None: ...

    async def bulk_get(self, reqs: Sequence[GetRequest]) -> list[BulkGetItem]:
        async def one(req: GetRequest) -> BulkGetItem:
            try:
                item = await self.get(req)
            except Exception as exc:  # reported per key, as the contract says
                return BulkGetItem(key=req.key, error=str(exc) or type(exc).__name__)
            return BulkGetItem(key=req.key, item=item)

        return await _run_all(one, reqs, self.bulk_concurrency)

    async def bulk_set(self, reqs: Sequence[SetRequest]) -> None:
        await self._bulk(self.set, reqs)

    async def bulk_delete(self, reqs: Sequence[DeleteRequest]) -> None:
        await self._bulk(self.delete, reqs)

    async def _bulk(
        self,
        op: Callable[[_Write], Awaitable[None]],
        reqs: Sequence[_Write],
    ) -> None:
        async def one(req: _Write) -> Exception | None:
            try:
                await op(req)
            except Exception as exc:  # collected into BulkError
                return exc
            return None

        outcomes = await _run_all(one, reqs, self.bulk_concurrency)
        errors = {req.key: exc for req, exc in zip(reqs, outcomes, strict=True) if exc is not None}
        if errors:
            raise BulkError(errors)
