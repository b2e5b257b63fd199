"""``state.in-memory``: the reference state store, kept in a dict of this process.

Contract (all features: ETAG, TRANSACTIONAL, TTL, QUERY_API, LIST_KEYS):
- values are stored and returned byte for byte; nothing survives ``close()`` or the process;
- ETags are version numbers ("1", "2", ...) from one counter per store, so a write never
  reuses an ETag; an ETag that is not a positive number raises ``ETagInvalid``;
- TTL: an expired item is invisible (removed lazily when read; listing and queries skip it);
- ``transact`` applies its operations in order against a staged view (each operation sees the
  ones before it); only when all succeed is the staged view committed, so a failing operation
  leaves the store untouched;
- queries follow ``components.state._query`` with offset page tokens; ``list_keys`` uses keyset
  tokens (the last key of the page), so a token stays valid whatever is written meanwhile.

Every operation runs without awaiting anything, so it is atomic within the event loop.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import ETagMismatch, InvalidRequest
from components.state import _query
from components.state._api import StateFeature
from components.state._base import BaseStateStore, check_delete, check_set
from components.state._etag import VersionCounter, check_version_etag, given_etag
from components.state._types import (
    Concurrency,
    DeleteRequest,
    GetRequest,
    KeysPage,
    ListKeysRequest,
    Query,
    QueryItem,
    QueryResult,
    SetRequest,
    StateItem,
    TransactionOp,
)

__all__ = ["InMemoryMetadata", "InMemoryStateStore"]


class InMemoryMetadata(BaseMetadata):
    """The in-memory store takes no metadata."""


@dataclass(frozen=True, slots=True)
class _Entry:
    value: bytes
    etag: str
    expires_at: float | None  # unix time

    def item(self, key: str) -> StateItem:
        expires = None
        if self.expires_at is not None:
            expires = datetime.fromtimestamp(self.expires_at, tz=UTC)
        return StateItem(key=key, value=self.value, etag=self.etag, expires_at=expires)


class InMemoryStateStore(BaseStateStore):
    info: ClassVar[ComponentInfo] = ComponentInfo(type="state.in-memory")
    Metadata: ClassVar[type[BaseMetadata]] = InMemoryMetadata

    _FEATURES: ClassVar[frozenset[StateFeature]] = frozenset(StateFeature)

    def __init__(self, metadata: Any, *, context: ComponentContext) -> None:
        self._metadata = metadata
        self._context = context
        self._data: dict[str, _Entry] = {}
        self._versions = VersionCounter()

    async def init(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()

    def features(self) -> frozenset[StateFeature]:
        return self._FEATURES

    @property
    def max_transaction_ops(self) -> int | None:
        return None

    # ---- single items ------------------------------------------------------------------

    def _live(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= time.time():
            del self._data[key]
            return None
        return entry

    async def get(self, req: GetRequest) -> StateItem | None:
        entry = self._live(req.key)
        return None if entry is None else entry.item(req.key)

    def _written(self, req: SetRequest, current: _Entry | None) -> _Entry:
        """The entry ``req`` writes over ``current``; raises when its conditions fail."""
        ttl = check_set(req, self._FEATURES)
        etag = given_etag(req.etag)
        if etag is not None:
            check_version_etag(etag)
            if current is None or current.etag != etag:
                raise ETagMismatch(req.key)
        elif req.concurrency is Concurrency.FIRST_WRITE and current is not None:
            raise ETagMismatch(req.key)
        expires = None if ttl is None else time.time() + ttl
        return _Entry(bytes(req.value), self._versions.next(), expires)

    def _deleted(self, req: DeleteRequest, current: _Entry | None) -> None:
        """Raises when the conditions of ``req`` fail against ``current``."""
        check_delete(req, self._FEATURES)
        etag = given_etag(req.etag)
        if etag is not None:
            check_version_etag(etag)
            if current is None or current.etag != etag:
                raise ETagMismatch(req.key)

    async def set(self, req: SetRequest) -> None:
        self._data[req.key] = self._written(req, self._live(req.key))

    async def delete(self, req: DeleteRequest) -> None:
        self._deleted(req, self._live(req.key))
        self._data.pop(req.key, None)

    # ---- transactions ------------------------------------------------------------------

    async def transact(self, ops: Sequence[TransactionOp]) -> None:
        staged: dict[str, _Entry | None] = {}
        for op in ops:
            current = staged[op.key] if op.key in staged else self._live(op.key)
            if isinstance(op, SetRequest):
                staged[op.key] = self._written(op, current)
            else:
                self._deleted(op, current)
                staged[op.key] = None
        for key, entry in staged.items():
            if entry is None:
                self._data.pop(key, None)
            else:
                self._data[key] = entry

    # ---- query and listing -------------------------------------------------------------

    def _live_items(self, prefix: str) -> Iterator[tuple[str, _Entry]]:
        now = time.time()
        expired: list[str] = []
        for key, entry in self._data.items():
            if not key.startswith(prefix):
                continue
            if entry.expires_at is not None and entry.expires_at <= now:
                expired.append(key)
                continue
            yield key, entry
        for key in expired:
            self._data.pop(key, None)

    async def query(self, q: Query) -> QueryResult:
        offset = _query.validate_query(q)
        rows: list[tuple[str, Any, _Entry]] = []
        for key, entry in list(self._live_items(q.key_prefix)):
            doc = _query.decode_document(entry.value)
            if doc is _query.NOT_JSON:
                continue
            if q.filter is None or _query.matches(q.filter, doc):
                rows.append((key, doc, entry))
        ordered = _query.sort_documents(rows, q.sort, key=lambda r: r[0], doc=lambda r: r[1])
        end = len(ordered) if q.limit is None else offset + q.limit
        page = ordered[offset:end]
        token = _query.encode_offset_token(end) if end < len(ordered) else None
        items = [QueryItem(key=key, value=entry.value, etag=entry.etag) for key, _, entry in page]
        return QueryResult(items=items, token=token)

    async def list_keys(self, req: ListKeysRequest) -> KeysPage:
        if req.limit < 1:
            raise InvalidRequest(f"list limit must be positive: {req.limit}")
        after = None if req.token is None else _query.decode_key_token(req.token)
        candidates = (
            key for key, _ in self._live_items(req.prefix) if after is None or key > after
        )
        page = heapq.nsmallest(req.limit + 1, candidates)
        keys = page[: req.limit]
        token = _query.encode_key_token(keys[-1]) if len(page) > req.limit else None
        return KeysPage(keys=keys, token=token)
