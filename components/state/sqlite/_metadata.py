"""The metadata of ``state.sqlite`` (validated before the store is built).

- ``connectionString``: a file path or a ``file:`` URI; unset or blank means the default file
  ``<home>/state/<component name>.db`` (parent folders are created);
- ``tableName``: letters, digits and ``_``, not starting with a digit or ``sqlite_``; default
  ``state``; ``metadata`` is reserved (the schema-version table);
- ``timeout``: how long a write waits for another process's lock (SQLite's busy timeout),
  positive, default 20s;
- ``cleanupInterval``: how often expired rows are deleted, default 1h; ``0`` disables it.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from components._metadata import Duration
from components.base import BaseMetadata

__all__ = ["SqliteMetadata"]

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_RESERVED_TABLES = frozenset({"metadata"})


class SqliteMetadata(BaseMetadata):
    connection_string: str | None = Field(default=None, alias="connectionString")
    table_name: str = Field(default="state", alias="tableName")
    timeout: Duration = 20.0
    cleanup_interval: Duration = Field(default=3600.0, alias="cleanupInterval")

    @field_validator("connection_string")
    @classmethod
    def _connection_string(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            return None
        return v

    @field_validator("table_name")
    @classmethod
    def _table_name(cls, v: str) -> str:
        if not _TABLE_NAME.fullmatch(v) or v.lower().startswith("sqlite_"):
            raise ValueError(
                f"invalid tableName {v!r}: use letters, digits and _ (not starting with a digit)"
            )
        if v.lower() in _RESERVED_TABLES:
            raise ValueError(f"tableName {v!r} is reserved")
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("timeout must be positive")
        return v

    @field_validator("cleanup_interval")
    @classmethod
    def _cleanup_interval(cls, v: float) -> float:
        if v < 0:
            raise ValueError("cleanupInterval must be 0 (disabled) or positive")
        return v
