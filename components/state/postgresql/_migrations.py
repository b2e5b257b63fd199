"""Schema migrations of ``state.postgresql``, safe when several sidecars start at once.

The applied level of a state table is the row ``migrations:<table>`` of the metadata table
(``key TEXT PRIMARY KEY, value TEXT``). ``migrate``:

1. reads the level without locking; when it is current, nothing else happens;
2. otherwise opens one transaction, takes ``pg_advisory_xact_lock`` on a key derived from the
   metadata table name and then on one derived from the state table name (always in that order,
   so stores sharing either table serialise without deadlocking), creates the metadata table if
   needed, **re-reads the level** (another process may have migrated while we waited), applies
   the missing migrations in order and records the new level. DDL is transactional in
   PostgreSQL, so a failure leaves the previous level and schema intact;
3. always checks the state table's columns, so a same-named table with another layout (for
   example one written by Dapr's component) fails ``init`` with a clear message instead of
   failing every request later.

Every migration is idempotent (``IF NOT EXISTS``), so two stores naming the same table
differently (``state`` and ``public.state``) stay harmless.

The state table (migration 1)::

    key        TEXT COLLATE "C" PRIMARY KEY  -- byte order: prefix ranges and ORDER BY use the PK
    value      BYTEA NOT NULL                -- the bytes as given
    value_json JSONB NULL                    -- the value when it is UTF-8 JSON, for queries
    etag       UUID NOT NULL                 -- new random UUID on every write
    expires_at TIMESTAMPTZ NULL              -- NULL: no TTL; rows at or past it are invisible
    updated_at TIMESTAMPTZ NOT NULL

plus a partial index on ``expires_at`` for the cleanup.
"""

# Only validated, double-quoted identifiers are interpolated into SQL; values are $n parameters.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from components.state.postgresql._metadata import quote_table_name

__all__ = ["LATEST_LEVEL", "MIGRATIONS", "advisory_key", "ensure_metadata_table", "migrate"]

_EXPECTED_COLUMNS = {
    "key": "text",
    "value": "bytea",
    "value_json": "jsonb",
    "etag": "uuid",
    "expires_at": "timestamp with time zone",
    "updated_at": "timestamp with time zone",
}


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    digest = hashlib.blake2b(f"tandem:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _index_name(table: str, suffix: str) -> str:
    # Index names share the table's schema and are limited to 63 bytes: keep them unique with a
    # hash of the full table name instead of relying on truncation.
    base = table.rsplit(".", 1)[-1][:40]
    digest = hashlib.blake2b(table.encode(), digest_size=4).hexdigest()
    return f'"{base}_{digest}_{suffix}"'


def _migration_1(table: str) -> str:
    t = quote_table_name(table)
    return f"""
        CREATE TABLE IF NOT EXISTS {t} (
            key TEXT COLLATE "C" NOT NULL PRIMARY KEY,
            value BYTEA NOT NULL,
            value_json JSONB NULL,
            etag UUID NOT NULL,
            expires_at TIMESTAMPTZ NULL,
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        CREATE INDEX IF NOT EXISTS {_index_name(table, "expires")}
            ON {t} (expires_at) WHERE expires_at IS NOT NULL;
    """


# Migration n (1-based) is MIGRATIONS[n - 1]: SQL for the given (validated) table name.
MIGRATIONS: tuple[Callable[[str], str], ...] = (_migration_1,)
LATEST_LEVEL = len(MIGRATIONS)


def _level_key(table: str) -> str:
    return f"migrations:{table}"


async def ensure_metadata_table(conn: Any, metadata_table: str) -> None:
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {quote_table_name(metadata_table)} "
        "(key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)"
    )


async def _read_level(conn: Any, table: str, metadata_table: str) -> int:
    exists = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", quote_table_name(metadata_table)
    )
    if not exists:
        return 0
    value = await conn.fetchval(
        f"SELECT value FROM {quote_table_name(metadata_table)} WHERE key = $1", _level_key(table)
    )
    return int(value) if value is not None else 0


async def _check_columns(conn: Any, table: str, *, missing_ok: bool = False) -> None:
    rows = await conn.fetch(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, c.collname
        FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
        """,
        quote_table_name(table),
    )
    found = {r["attname"]: (r["type"], r["collname"]) for r in rows}
    if not found and missing_ok:
        return
    problems = [
        f"{name} {want}"
        for name, want in _EXPECTED_COLUMNS.items()
        if name not in found or found[name][0] != want
    ]
    if "key" in found and found["key"][1] != "C":
        problems.append('key COLLATE "C"')
    if problems:
        raise RuntimeError(
            f"table {table!r} exists but was not created by Tandem's state.postgresql "
            f"(missing or different: {', '.join(problems)}); choose another tableName"
        )


async def migrate(conn: Any, *, table: str, metadata_table: str) -> int:
    """Bring ``table`` to ``LATEST_LEVEL``; return how many migrations this call applied."""
    applied = 0
    if await _read_level(conn, table, metadata_table) < LATEST_LEVEL:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(metadata_table))
            await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(table))
            await ensure_metadata_table(conn, metadata_table)
            level = await _read_level(conn, table, metadata_table)  # re-check under the lock
            if level == 0:  # a same-named table we did not create must fail before any DDL
                await _check_columns(conn, table, missing_ok=True)
            for n in range(level + 1, LATEST_LEVEL + 1):
                await conn.execute(MIGRATIONS[n - 1](table))
                applied += 1
            if applied:
                await conn.execute(
                    f"INSERT INTO {quote_table_name(metadata_table)} (key, value) VALUES ($1, $2) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    _level_key(table),
                    str(LATEST_LEVEL),
                )
    await _check_columns(conn, table)
    return applied
