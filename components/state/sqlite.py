"""``state.sqlite``: the embedded, durable default state store (one SQLite file).

Contract (features ETAG, TRANSACTIONAL, TTL, QUERY_API, LIST_KEYS):
- metadata: ``connectionString`` (a file path or a ``file:`` URI; default
  ``<home>/state/<component name>.db``, parent folders created), ``tableName`` (default
  ``state``; letters, digits and ``_``), ``timeout`` (how long a write waits for another
  process's lock: SQLite's busy timeout, default 20s), ``cleanupInterval`` (how often expired rows
  are deleted, default 1h; ``0`` disables the background cleanup);
- values are stored as BLOBs and returned byte for byte; ETags are random UUIDs (any other
  string is ``ETagInvalid``);
- TTL: an expired row is invisible to get, bulk get, query and listing at once; a background
  task deletes expired rows every ``cleanupInterval``;
- several sidecar processes may share one file: WAL journal, a busy timeout, and every
  conditional write (ETag, first-write) is one SQL statement (``UPDATE ... WHERE etag = ?``,
  ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired``), atomic on its own; transactions run
  under ``BEGIN IMMEDIATE``, so their checks and writes see no interleaved writer;
- ``transact`` applies its operations in order in one SQL transaction; any failure rolls it
  all back (also when the caller is cancelled half way: the transaction is finished or rolled
  back in a shielded task before the connection serves anything else);
- queries run in SQL over the rows whose value is valid JSON (``is_json``, computed when the
  row is written), with ``json_type``/``json_extract`` and bound parameters only, following the
  semantics of ``components.state._query``. Page tokens of queries are *offsets*: pages are
  stable while the data does not change, but a write between two pages can shift items across
  the page boundary. ``list_keys`` pages are keyset-based (after the last key) and stay
  consistent under writes;
- schema: a ``metadata`` table records each state table's schema version; migrations run in
  ``BEGIN IMMEDIATE``, so processes that start together migrate exactly once. A table with a
  newer schema version than this code knows makes ``init()`` fail.

Per operation the hot paths (get, set, delete) cost one statement, i.e. one round trip to the
aiosqlite thread; SQL texts are fixed per table so sqlite3's statement cache keeps them prepared.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import aiosqlite
from pydantic import Field, field_validator

from components._metadata import Duration
from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import ComponentError, ETagMismatch, InvalidRequest
from components.state import _query
from components.state._api import StateFeature
from components.state._base import BaseStateStore, check_delete, check_set
from components.state._etag import check_uuid_etag, given_etag, new_uuid_etag
from components.state._types import (
    And,
    BulkGetItem,
    Compare,
    Concurrency,
    DeleteRequest,
    Filter,
    GetRequest,
    In,
    KeysPage,
    ListKeysRequest,
    Op,
    Query,
    QueryItem,
    QueryResult,
    SetRequest,
    SortKey,
    StateItem,
    TransactionOp,
)

__all__ = ["SqliteMetadata", "SqliteStateStore"]

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_RESERVED_TABLES = frozenset({"metadata"})
_INT64 = range(-(2**63), 2**63)
_CLEANUP_BATCH = 1000
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


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


# ---- SQL -----------------------------------------------------------------------------------

_LIVE = "(expires_at IS NULL OR expires_at > ?)"
# The JSON document of a row, NULL for non-JSON values: json_* functions never see bad input.
_DOC = "(CASE WHEN is_json THEN CAST(value AS TEXT) END)"
_IS_JSON = "(json_valid(CAST(?1 AS TEXT)) AND instr(?1, X'00') = 0)"

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


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _fill(template: str, **parts: str) -> str:
    """``template`` with ``{name}`` replaced by quoted identifiers or fixed SQL fragments.

    Only table/index names (validated by SqliteMetadata, then quoted) and SQL text written in
    this module are ever substituted; every value travels as a bound parameter.
    """
    return template.format(live=_LIVE, doc=_DOC, is_json=_IS_JSON, **parts)


class _Sql:
    """The fixed statements of one table (its name validated by SqliteMetadata)."""

    def __init__(self, table: str) -> None:
        t = _quote(table)
        self.table = table
        self.quoted = t
        self.migration_params = {"table": t, "index_expires": _quote(f"{table}_expires_at")}
        self.get = _fill("SELECT value, etag, expires_at FROM {t} WHERE key = ? AND {live}", t=t)
        self.bulk_get = _fill(
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
        self.upsert = _fill(insert, t=t)
        self.insert_if_absent = _fill(
            insert + " WHERE {t}.expires_at IS NOT NULL AND {t}.expires_at <= ?4", t=t
        )
        self.update_if_etag = _fill(
            "UPDATE {t} SET value = ?1, is_json = {is_json}, etag = ?2, expires_at = ?3,"
            " update_time = ?4"
            " WHERE key = ?5 AND etag = ?6 AND (expires_at IS NULL OR expires_at > ?4)",
            t=t,
        )
        self.delete = _fill("DELETE FROM {t} WHERE key = ?", t=t)
        self.delete_if_etag = _fill("DELETE FROM {t} WHERE key = ? AND etag = ? AND {live}", t=t)
        self.cleanup = _fill(
            "DELETE FROM {t} WHERE key IN (SELECT key FROM {t}"
            " WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT {batch})",
            t=t,
            batch=str(_CLEANUP_BATCH),
        )
        # list_keys: (after a token: strict lower bound, has an upper bound) -> statement
        self.list_keys: dict[tuple[bool, bool], str] = {}
        for strict in (False, True):
            for bounded in (False, True):
                self.list_keys[strict, bounded] = _fill(
                    "SELECT key FROM {t} WHERE key {lower} ?{upper} AND {live}"
                    " ORDER BY key LIMIT ?",
                    t=t,
                    lower=">" if strict else ">=",
                    upper=" AND key < ?" if bounded else "",
                )


def _json_path(path: str) -> str:
    return "$." + ".".join(_query.validate_path(path))


def _sql_operand(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return float(value)
    return value


_SQL_OPS = {Op.EQ: "=", Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


def _sql_equal(path: str, value: Any, params: list[Any]) -> str:
    """SQL for "the document value at ``path`` EQ ``value``" (same JSON kind, equal value)."""
    if value is None:
        params.append(path)
        return f"json_type({_DOC}, ?) = 'null'"
    if isinstance(value, bool):
        params.extend((path, "true" if value else "false"))
        return f"json_type({_DOC}, ?) = ?"
    return _sql_ordered(Op.EQ, path, value, params)


def _sql_ordered(op: Op, path: str, value: Any, params: list[Any]) -> str:
    kinds = "'text'" if isinstance(value, str) else "'integer', 'real'"
    params.extend((path, path, _sql_operand(value)))
    return f"(json_type({_DOC}, ?) IN ({kinds}) AND json_extract({_DOC}, ?) {_SQL_OPS[op]} ?)"


def _sql_filter(f: Filter, params: list[Any]) -> str:
    """A WHERE expression for ``f`` (already validated), appending its parameters in order."""
    if isinstance(f, Compare):
        path = _json_path(f.path)
        if f.op is Op.EQ:
            return _sql_equal(path, f.value, params)
        if f.op is Op.NEQ:
            params.append(path)
            exists = f"json_type({_DOC}, ?) IS NOT NULL"
            return f"({exists} AND NOT {_sql_equal(path, f.value, params)})"
        return _sql_ordered(f.op, path, f.value, params)
    if isinstance(f, In):
        path = _json_path(f.path)
        parts = [_sql_equal(path, v, params) for v in f.values]
        return _balanced(parts, " OR ") if parts else "0"
    joiner = " AND " if isinstance(f, And) else " OR "
    parts = [_sql_filter(sub, params) for sub in f.filters]
    if not parts:
        return "1" if isinstance(f, And) else "0"
    return _balanced(parts, joiner)


def _balanced(parts: Sequence[str], joiner: str) -> str:
    """``parts`` joined as a balanced tree of parenthesised pairs (placeholder order kept).

    SQLite parses ``a OR b OR c ...`` as a left-deep tree, which reaches its expression depth
    limit (1000) at about a thousand terms; a balanced tree is log2(n) deep.
    """
    while len(parts) > 1:
        paired = [f"({parts[i]}{joiner}{parts[i + 1]})" for i in range(0, len(parts) - 1, 2)]
        parts = paired + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


_SORT_RANK = (
    f"CASE json_type({_DOC}, ?) WHEN 'true' THEN 1 WHEN 'false' THEN 1"
    " WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3"
    " WHEN 'object' THEN 4 WHEN 'array' THEN 4 ELSE 0 END"
)


def _sql_order(sort: Sequence[SortKey], params: list[Any]) -> str:
    terms: list[str] = []
    for key in sort:
        path = _json_path(key.path)
        direction = "DESC" if key.descending else "ASC"
        terms.append(f"{_SORT_RANK} {direction}, json_extract({_DOC}, ?) {direction}")
        params.extend((path, path))
    terms.append("key ASC")
    return ", ".join(terms)


# ---- the store -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Write:
    """One prepared write: ``conditional`` ones must change a row or they raise ETagMismatch."""

    key: str
    sql: str
    params: tuple[Any, ...]
    conditional: bool


def _expiry(expires_at: float | None) -> datetime | None:
    return None if expires_at is None else datetime.fromtimestamp(expires_at, tz=UTC)


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: the caller that was cancelled can't


class SqliteStateStore(BaseStateStore):
    info: ClassVar[ComponentInfo] = ComponentInfo(type="state.sqlite")
    Metadata: ClassVar[type[BaseMetadata]] = SqliteMetadata

    _FEATURES: ClassVar[frozenset[StateFeature]] = frozenset(StateFeature)

    def __init__(self, metadata: Any, *, context: ComponentContext) -> None:
        if not isinstance(metadata, SqliteMetadata):
            metadata = SqliteMetadata.model_validate(metadata)
        self._metadata: SqliteMetadata = metadata
        self._context = context
        self._sql = _Sql(metadata.table_name)
        self._conn: aiosqlite.Connection | None = None
        self._cleanup_task: asyncio.Task[None] | None = None
        # While a multi-statement section (transaction, migration) runs on the one connection,
        # ``_idle`` is clear and single statements wait, so none lands inside the transaction.
        self._idle = asyncio.Event()
        self._idle.set()
        self._exclusive_lock = asyncio.Lock()

    # ---- lifecycle -----------------------------------------------------------------------

    def _database(self) -> tuple[str, bool, Path | None]:
        """(what to open, whether it is a URI, the file whose folder must exist)."""
        cs = self._metadata.connection_string
        if cs is None:
            path = self._context.home / "state" / f"{self._context.name}.db"
            return str(path), False, path
        if cs.startswith("file:"):
            parts = urlsplit(cs)
            in_memory = "mode=memory" in parts.query or parts.path in ("", ":memory:")
            return cs, True, None if in_memory else Path(unquote(parts.path))
        if cs == ":memory:":
            return cs, False, None
        return cs, False, Path(cs)

    async def init(self) -> None:
        database, uri, path = self._database()
        if path is not None:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        conn = await aiosqlite.connect(
            database, uri=uri, timeout=self._metadata.timeout, isolation_level=None
        )
        try:
            await self._enable_wal(conn)
            await conn.execute("PRAGMA synchronous = NORMAL")
            self._conn = conn
            await self._migrate()
        except BaseException:
            self._conn = None
            await conn.close()
            raise
        if self._metadata.cleanup_interval > 0:
            self._cleanup_task = asyncio.create_task(
                self._cleanup_loop(self._metadata.cleanup_interval),
                name=f"state.sqlite cleanup {self._context.name}",
            )

    async def _enable_wal(self, conn: aiosqlite.Connection) -> None:
        """Switch the file to WAL, waiting up to ``timeout`` for other processes.

        Switching needs an exclusive lock and SQLite does not call the busy handler for it, so
        processes opening a fresh file together see SQLITE_BUSY at once: retry with backoff.
        """
        deadline = time.monotonic() + self._metadata.timeout
        pause = 0.005
        while True:
            try:
                await conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_BUSY)
                if busy not in _BUSY or time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)

    async def close(self) -> None:
        task, self._cleanup_task = self._cleanup_task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        async with self._exclusive_lock:  # let a running transaction finish
            conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def features(self) -> frozenset[StateFeature]:
        return self._FEATURES

    @property
    def max_transaction_ops(self) -> int | None:
        return None

    # ---- connection access ---------------------------------------------------------------

    async def _connection(self) -> aiosqlite.Connection:
        """The connection, once no multi-statement section is running.

        Callers must issue their statement right after this returns (no await in between), so
        it is queued on the connection before any later transaction's BEGIN.
        """
        while not self._idle.is_set():
            await self._idle.wait()
        if self._conn is None:
            raise ComponentError("the sqlite state store is not initialised or already closed")
        return self._conn

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._exclusive_lock:
            conn = await self._connection()
            self._idle.clear()
            try:
                yield conn
            finally:
                self._idle.set()

    async def _in_transaction(self, writes: Sequence[_Write]) -> None:
        async with self._exclusive() as conn:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for write in writes:
                    await self._execute(conn, write)
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise

    async def _migrate(self) -> None:
        version_key = f"schema_version:{self._sql.table}"
        async with self._exclusive() as conn:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS metadata"
                    " (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)"
                )
                rows = list(
                    await conn.execute_fetchall(
                        "SELECT value FROM metadata WHERE key = ?", (version_key,)
                    )
                )
                current = int(rows[0][0]) if rows else 0
                if current > SCHEMA_VERSION:
                    raise ComponentError(
                        f"table {self._sql.table!r} has schema version {current}, newer than "
                        f"this Tandem's {SCHEMA_VERSION}: upgrade Tandem or use another table"
                    )
                for statements in _MIGRATIONS[current:]:
                    for statement in statements:
                        await conn.execute(statement.format(**self._sql.migration_params))
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

    async def _cleanup_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.delete_expired()
            except Exception:
                self._context.logger.exception(
                    "state.sqlite %s: deleting expired rows failed", self._context.name
                )

    async def delete_expired(self) -> int:
        """Delete expired rows now, in batches; returns how many were deleted."""
        total = 0
        while True:
            conn = await self._connection()
            cursor = await conn.execute(self._sql.cleanup, (time.time(),))
            total += cursor.rowcount
            if cursor.rowcount < _CLEANUP_BATCH:
                return total

    # ---- single items --------------------------------------------------------------------

    async def get(self, req: GetRequest) -> StateItem | None:
        now = time.time()
        conn = await self._connection()
        rows = await conn.execute_fetchall(self._sql.get, (req.key, now))
        for value, etag, expires_at in rows:
            return StateItem(key=req.key, value=value, etag=etag, expires_at=_expiry(expires_at))
        return None

    async def bulk_get(self, reqs: Sequence[GetRequest]) -> list[BulkGetItem]:
        if not reqs:
            return []
        keys = json.dumps([r.key for r in reqs])
        now = time.time()
        conn = await self._connection()
        rows = await conn.execute_fetchall(self._sql.bulk_get, (keys, now))
        found = {
            key: StateItem(key=key, value=value, etag=etag, expires_at=_expiry(expires_at))
            for key, value, etag, expires_at in rows
        }
        return [BulkGetItem(key=r.key, item=found.get(r.key)) for r in reqs]

    def _prepare_set(self, req: SetRequest, now: float) -> _Write:
        ttl = check_set(req, self._FEATURES)
        expires = None if ttl is None else now + ttl
        etag = given_etag(req.etag)
        head = (bytes(req.value), new_uuid_etag(), expires, now, req.key)
        if etag is not None:
            return _Write(req.key, self._sql.update_if_etag, (*head, check_uuid_etag(etag)), True)
        if req.concurrency is Concurrency.FIRST_WRITE:
            return _Write(req.key, self._sql.insert_if_absent, head, True)
        return _Write(req.key, self._sql.upsert, head, False)

    def _prepare_delete(self, req: DeleteRequest, now: float) -> _Write:
        check_delete(req, self._FEATURES)
        etag = given_etag(req.etag)
        if etag is not None:
            params = (req.key, check_uuid_etag(etag), now)
            return _Write(req.key, self._sql.delete_if_etag, params, True)
        return _Write(req.key, self._sql.delete, (req.key,), False)

    @staticmethod
    async def _execute(conn: aiosqlite.Connection, write: _Write) -> None:
        cursor = await conn.execute(write.sql, write.params)
        if write.conditional and cursor.rowcount == 0:
            raise ETagMismatch(write.key)

    async def set(self, req: SetRequest) -> None:
        write = self._prepare_set(req, time.time())
        await self._execute(await self._connection(), write)

    async def delete(self, req: DeleteRequest) -> None:
        write = self._prepare_delete(req, time.time())
        await self._execute(await self._connection(), write)

    # ---- transactions --------------------------------------------------------------------

    async def transact(self, ops: Sequence[TransactionOp]) -> None:
        now = time.time()
        writes = [
            self._prepare_set(op, now)
            if isinstance(op, SetRequest)
            else self._prepare_delete(op, now)
            for op in ops
        ]
        if not writes:
            return
        task = asyncio.ensure_future(self._in_transaction(writes))
        task.add_done_callback(_consume)
        await asyncio.shield(task)

    # ---- query and listing ---------------------------------------------------------------

    async def query(self, q: Query) -> QueryResult:
        offset = _query.validate_query(q)
        # Placeholders are positional: each clause appends its parameters as it is written.
        where = ["key >= ?"]
        params: list[Any] = [q.key_prefix]
        upper = _query.prefix_upper_bound(q.key_prefix)
        if upper is not None:
            where.append("key < ?")
            params.append(upper)
        where += ["is_json = 1", _LIVE]
        params.append(time.time())
        if q.filter is not None:
            where.append(_sql_filter(q.filter, params))
        order = _sql_order(q.sort, params)
        fetch = -1 if q.limit is None else q.limit + 1
        params.extend((fetch, offset))
        sql = _fill(
            "SELECT key, value, etag FROM {t} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            t=self._sql.quoted,
            where=" AND ".join(where),
            order=order,
        )
        conn = await self._connection()
        rows = list(await conn.execute_fetchall(sql, params))
        token = None
        if q.limit is not None and len(rows) > q.limit:
            rows = rows[: q.limit]
            token = _query.encode_offset_token(offset + q.limit)
        items = [QueryItem(key=key, value=value, etag=etag) for key, value, etag in rows]
        return QueryResult(items=items, token=token)

    async def list_keys(self, req: ListKeysRequest) -> KeysPage:
        if req.limit < 1:
            raise InvalidRequest(f"list limit must be positive: {req.limit}")
        lower, strict = req.prefix, False
        if req.token is not None:
            after = _query.decode_key_token(req.token)
            if after >= lower:
                lower, strict = after, True
        upper = _query.prefix_upper_bound(req.prefix)
        params: list[Any] = [lower]
        if upper is not None:
            params.append(upper)
        params.extend((time.time(), req.limit + 1))
        conn = await self._connection()
        rows = await conn.execute_fetchall(self._sql.list_keys[strict, upper is not None], params)
        keys = [row[0] for row in rows]
        token = None
        if len(keys) > req.limit:
            keys = keys[: req.limit]
            token = _query.encode_key_token(keys[-1])
        return KeysPage(keys=keys, token=token)
