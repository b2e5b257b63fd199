"""The fixed SQL statements of one state table, and how SQL text is assembled.

Only table/index names (validated by ``SqliteMetadata``, then quoted) and SQL fragments written
in this package are ever substituted into statements; every value is a bound parameter. The
texts are fixed per table, so sqlite3's statement cache keeps them prepared.

Row layout (see ``_migrations``): ``key TEXT PRIMARY KEY, value BLOB, is_json INTEGER,
etag TEXT, expires_at REAL (epoch seconds, NULL: no TTL), update_time REAL``.
"""

from __future__ import annotations

__all__ = ["CLEANUP_BATCH", "DOC", "LIVE", "Statements", "fill", "quote"]

CLEANUP_BATCH = 1000

# A row that has not expired; its one parameter is "now" (epoch seconds).
LIVE = "(expires_at IS NULL OR expires_at > ?)"
# The JSON document of a row, NULL for non-JSON values: json_* functions never see bad input.
DOC = "(CASE WHEN is_json THEN CAST(value AS TEXT) END)"
# Whether parameter ?1 (the value being written) is a JSON document.
_IS_JSON = "(json_valid(CAST(?1 AS TEXT)) AND instr(?1, X'00') = 0)"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def fill(template: str, **parts: str) -> str:
    """``template`` with ``{live}``, ``{doc}``, ``{is_json}`` and the given ``parts`` filled in.

    ``parts`` must be quoted identifiers or SQL text written in this package, never a value.
    """
    return template.format(live=LIVE, doc=DOC, is_json=_IS_JSON, **parts)


class Statements:
    """The fixed statements of one table (its name validated by SqliteMetadata)."""

    def __init__(self, table: str) -> None:
        t = quote(table)
        self.table = table
        self.quoted = t
        self.migration_params = {"table": t, "index_expires": quote(f"{table}_expires_at")}
        self.get = fill("SELECT value, etag, expires_at FROM {t} WHERE key = ? AND {live}", t=t)
        self.bulk_get = fill(
            "SELECT key, value, etag, expires_at FROM {t}"
            " WHERE key IN (SELECT value FROM json_each(?)) AND {live}",
            t=t,
        )
        # ?1 value, ?2 new etag, ?3 expires_at, ?4 now, ?5 key, [?6 expected etag]
        insert = (
            "INSERT INTO {t} (key, value, is_json, etag, expires_at, update_time)"
            " VALUES (?5, ?1, {is_json}, ?2, ?3, ?4)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
            " is_json = excluded.is_json, etag = excluded.etag,"
            " expires_at = excluded.expires_at, update_time = excluded.update_time"
        )
        self.upsert = fill(insert, t=t)
        self.insert_if_absent = fill(
            insert + " WHERE {t}.expires_at IS NOT NULL AND {t}.expires_at <= ?4", t=t
        )
        self.update_if_etag = fill(
            "UPDATE {t} SET value = ?1, is_json = {is_json}, etag = ?2, expires_at = ?3,"
            " update_time = ?4"
            " WHERE key = ?5 AND etag = ?6 AND (expires_at IS NULL OR expires_at > ?4)",
            t=t,
        )
        self.delete = fill("DELETE FROM {t} WHERE key = ?", t=t)
        self.delete_if_etag = fill("DELETE FROM {t} WHERE key = ? AND etag = ? AND {live}", t=t)
        self.cleanup = fill(
            "DELETE FROM {t} WHERE key IN (SELECT key FROM {t}"
            " WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT {batch})",
            t=t,
            batch=str(CLEANUP_BATCH),
        )
        # list_keys: (after a token: strict lower bound, has an upper bound) -> statement
        self.list_keys: dict[tuple[bool, bool], str] = {}
        for strict in (False, True):
            for bounded in (False, True):
                self.list_keys[strict, bounded] = fill(
                    "SELECT key FROM {t} WHERE key {lower} ?{upper} AND {live}"
                    " ORDER BY key LIMIT ?",
                    t=t,
                    lower=">" if strict else ">=",
                    upper=" AND key < ?" if bounded else "",
                )
