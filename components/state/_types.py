"""Requests and results exchanged between the state service and state stores.

Keys here are *store keys*: the runtime has already applied the key prefix (``appid||key``).
Values are opaque bytes stored and returned unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

__all__ = [
    "And",
    "BulkGetItem",
    "Compare",
    "Concurrency",
    "Consistency",
    "DeleteRequest",
    "Filter",
    "GetRequest",
    "In",
    "KeysPage",
    "ListKeysRequest",
    "Op",
    "Or",
    "Query",
    "QueryItem",
    "QueryResult",
    "SetRequest",
    "SortKey",
    "StateItem",
    "TransactionOp",
]


class Concurrency(StrEnum):
    FIRST_WRITE = "first-write"
    LAST_WRITE = "last-write"


class Consistency(StrEnum):
    EVENTUAL = "eventual"
    STRONG = "strong"


_EMPTY: Mapping[str, str] = {}


class GetRequest(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    consistency: Consistency | None = None
    metadata: Mapping[str, str] = msgspec.field(default_factory=lambda: _EMPTY)


class StateItem(msgspec.Struct, frozen=True, kw_only=True):
    """A stored value. ``expires_at`` is set when the item has a TTL (UTC)."""

    key: str
    value: bytes
    etag: str | None = None
    expires_at: datetime | None = None


class SetRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Write ``value`` at ``key``.

    ``etag`` given: the write succeeds only if it is the current ETag (else ETagMismatch; a
    malformed ETag raises ETagInvalid). An empty ``etag`` ("") means no ETag, as in Dapr.
    ``concurrency`` FIRST_WRITE without an ETag: the write succeeds only if the key does not
    exist (else ETagMismatch). ``ttl_seconds`` None: no TTL (an existing TTL is
    cleared); a positive number: the item expires after that many seconds; ``0`` is the same as
    None (as in Dapr's stores). The service has already parsed and validated ``ttlInSeconds``
    (``-1`` arrives as None).
    """

    key: str
    value: bytes
    etag: str | None = None
    concurrency: Concurrency | None = None
    consistency: Consistency | None = None
    ttl_seconds: int | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = msgspec.field(default_factory=lambda: _EMPTY)


class DeleteRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Delete ``key``. Deleting a missing key without an ETag is not an error.

    ``etag`` given: the delete succeeds only if it is the current ETag (else ETagMismatch, also
    for a missing key; a malformed ETag raises ETagInvalid). An empty ``etag`` means no ETag.
    """

    key: str
    etag: str | None = None
    concurrency: Concurrency | None = None
    consistency: Consistency | None = None
    metadata: Mapping[str, str] = msgspec.field(default_factory=lambda: _EMPTY)


TransactionOp = SetRequest | DeleteRequest


class BulkGetItem(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    item: StateItem | None = None  # None: missing key (or error)
    error: str | None = None


# ---- query -------------------------------------------------------------------------------


class Op(StrEnum):
    EQ = "EQ"
    NEQ = "NEQ"
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"


class Compare(msgspec.Struct, frozen=True):
    """``path`` is a dotted path into the JSON value (``"person.org"``)."""

    op: Op
    path: str
    value: Any


class In(msgspec.Struct, frozen=True):
    path: str
    values: tuple[Any, ...]


class And(msgspec.Struct, frozen=True):
    filters: tuple[Filter, ...]


class Or(msgspec.Struct, frozen=True):
    filters: tuple[Filter, ...]


Filter = Compare | In | And | Or


class SortKey(msgspec.Struct, frozen=True):
    path: str
    descending: bool = False


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """A query over the JSON values whose store key starts with ``key_prefix``.

    ``token`` is the opaque token a previous page returned. Results are ordered by ``sort`` and
    then by key, so pagination is stable.
    """

    key_prefix: str
    filter: Filter | None = None
    sort: Sequence[SortKey] = ()
    limit: int | None = None
    token: str | None = None
    metadata: Mapping[str, str] = msgspec.field(default_factory=lambda: _EMPTY)


class QueryItem(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    value: bytes
    etag: str | None = None


class QueryResult(msgspec.Struct, frozen=True, kw_only=True):
    items: Sequence[QueryItem]
    token: str | None = None  # None: no further page


# ---- key listing (Tandem extension) ------------------------------------------------------


class ListKeysRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Keys starting with ``prefix`` (a store key prefix), at most ``limit`` per page."""

    prefix: str
    limit: int = 100
    token: str | None = None


class KeysPage(msgspec.Struct, frozen=True, kw_only=True):
    keys: Sequence[str]
    token: str | None = None  # None: no further page
