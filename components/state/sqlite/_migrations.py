"""Schema versions of ``state.sqlite`` tables, safe when several processes start at once.

A ``metadata`` table (``key TEXT PRIMARY KEY, value TEXT``) records each state table's level
as the row ``schema_version:<table>``. ``migrate`` runs in one ``BEGIN IMMEDIATE`` transaction
(the write lock is taken first), so processes that start together migrate exactly once; a
failure rolls back to the previous level. A table with a level newer than ``SCHEMA_VERSION``
makes it raise ``ComponentError``.
"""

from __future__ import annotations

import aiosqlite

from components.errors import ComponentError
from components.state.sqlite._sql import Statements

__all__ = ["SCHEMA_VERSION", "migrate"]

# Each migration: statements formatted with Statements.migration_params.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the state table and the index the TTL cleanup uses.
    (
        "CREATE TABLE {table} ("
        " key TEXT NOT NULL PRIMARY KEY,"
        " value BLOB NOT NULL,"
        " is_json INTEGER NOT NULL,"
        " etag TEXT NOT NULL,"
        " expires_at REAL,"
        " update_time REAL NOT NULL)",
        "CREATE INDEX {index_expires} ON {table} (expires_at) WHERE expires_at IS NOT NULL",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)


async def migrate(conn: aiosqlite.Connection, sql: Statements) -> None:
    """Bring ``sql.table`` to ``SCHEMA_VERSION``; ``conn`` must be idle (no open transaction)."""
    version_key = f"schema_version:{sql.table}"
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS metadata"
            " (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)"
        )
        rows = list(
            await conn.execute_fetchall("SELECT value FROM metadata WHERE key = ?", (version_key,))
        )
        current = int(rows[0][0]) if rows else 0
        if current > SCHEMA_VERSION:
            raise ComponentError(
                f"table {sql.table!r} has schema version {current}, newer than "
                f"this Tandem's {SCHEMA_VERSION}: upgrade Tandem or use another table"
            )
        for statements in _MIGRATIONS[current:]:
            for statement in statements:
                await conn.execute(statement.format(**sql.migration_params))
        if current < SCHEMA_VERSION:
            await conn.execute(
                "INSERT INTO metadata (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (version_key, str(SCHEMA_VERSION)),
            )
        await conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
