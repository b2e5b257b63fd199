"""The state store contract: one base protocol and optional capabilities.

A store declares what it can do in ``features()``; a feature it does not declare must not be
reachable (its capability protocol is not implemented, or it raises ``NotSupported``). The
shared conformance suite checks both directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

from components.base import Component
from components.state._types import (
    BulkGetItem,
    DeleteRequest,
    GetRequest,
    KeysPage,
    ListKeysRequest,
    Query,
    QueryResult,
    SetRequest,
    StateItem,
    TransactionOp,
)

__all__ = [
    "KeyLister",
    "QueryableStateStore",
    "StateFeature",
    "StateStore",
    "TransactionalStateStore",
]


class StateFeature(StrEnum):
    """Capability strings, as Dapr reports them in metadata (LIST_KEYS is Tandem's)."""

    ETAG = "ETAG"
    TRANSACTIONAL = "TRANSACTIONAL"
    TTL = "TTL"
    QUERY_API = "QUERY_API"
    LIST_KEYS = "LIST_KEYS"


class StateStore(Component, Protocol):
    def features(self) -> frozenset[StateFeature]: ...

    async def get(self, req: GetRequest) -> StateItem | None:
        """The item, or None when the key is missing or expired."""

    async def set(self, req: SetRequest) -> None:
        """Raises ETagMismatch / ETagInvalid (see SetRequest)."""

    async def delete(self, req: DeleteRequest) -> None:
        """Raises ETagMismatch / ETagInvalid; a missing key without ETag is fine."""

    async def bulk_get(self, reqs: Sequence[GetRequest]) -> list[BulkGetItem]:
        """One result per request, in request order; missing keys have ``item=None``."""

    async def bulk_set(self, reqs: Sequence[SetRequest]) -> None:
        """Not atomic: every item is tried; raises BulkError naming the ones that failed."""

    async def bulk_delete(self, reqs: Sequence[DeleteRequest]) -> None:
        """Not atomic: every item is tried; raises BulkError naming the ones that failed."""


@runtime_checkable
class TransactionalStateStore(StateStore, Protocol):
    async def transact(self, ops: Sequence[TransactionOp]) -> None:
        """Apply all operations atomically, in order; on any error nothing is applied."""

    @property
    def max_transaction_ops(self) -> int | None:
        """Most operations one transaction may hold (None: no limit)."""


@runtime_checkable
class QueryableStateStore(StateStore, Protocol):
    async def query(self, q: Query) -> QueryResult: ...


@runtime_checkable
class KeyLister(StateStore, Protocol):
    async def list_keys(self, req: ListKeysRequest) -> KeysPage:
        """One page of keys starting with ``req.prefix``; expired keys are left out.

        Ordered stores (SQL, in-memory) return keys in ascending order and resume after the
        last key of the previous page, so pages never overlap. Stores that cannot order keys
        cheaply (Redis SCAN) return pages in no order: every key present for the whole
        listing appears at least once, and a key may repeat on a later page.
        """
