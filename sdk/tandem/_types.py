"""Values the SDK takes and returns (frozen dataclasses)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BulkMessage",
    "ConfigurationItem",
    "Delete",
    "FlagEvaluation",
    "KeysPage",
    "QueryResult",
    "StateEntry",
    "StateItem",
    "Upsert",
]

Concurrency = Literal["first-write", "last-write"]
Consistency = Literal["eventual", "strong"]


@dataclass(frozen=True, slots=True)
class StateItem:
    """A stored value: ``data`` holds the stored bytes exactly, with its ETag."""

    key: str
    data: bytes
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The value decoded as JSON."""
        return json.loads(self.data)

    def text(self) -> str:
        """The value as UTF-8 text."""
        return self.data.decode()


@dataclass(frozen=True, slots=True)
class StateEntry:
    """One value to save.

    ``value`` is JSON-encoded (dataclasses as objects), except ``bytes``, which must hold
    JSON text and are stored exactly as given.

    Example::

        StateEntry("order-1", {"qty": 2}, etag=item.etag, ttl_seconds=60)
    """

    key: str
    value: Any
    etag: str | None = None
    ttl_seconds: int | None = None
    concurrency: Concurrency | None = None
    consistency: Consistency | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Upsert:
    """A transaction operation that saves ``entry``."""

    entry: StateEntry


@dataclass(frozen=True, slots=True)
class Delete:
    """A transaction operation that deletes ``key`` (only at ``etag`` when given)."""

    key: str
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueryResult:
    items: Sequence[StateItem]
    token: str | None


@dataclass(frozen=True, slots=True)
class KeysPage:
    keys: Sequence[str]
    token: str | None


@dataclass(frozen=True, slots=True)
class BulkMessage:
    """One event of a bulk publish: ``data`` as for ``publish`` (``bytes`` sent as is)."""

    entry_id: str
    data: Any
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConfigurationItem:
    value: str
    version: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FlagEvaluation:
    """A flag's value with OFREP's details (``reason``, ``variant``, ``metadata``)."""

    key: str
    value: Any
    reason: str = ""
    variant: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
