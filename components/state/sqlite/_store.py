"""``SqliteStateStore``: the ``state.sqlite`` component (see the package docstring).

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
- one aiosqlite connection: while a multi-statement section (transaction, migration) runs,
  single statements wait, so none lands inside it.

Per operation the hot paths (get, set, delete) cost one statement, i.e. one round trip to the
aiosqlite thread.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import aiosqlite
import msgspec

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import ComponentError, ETagMismatch
from components.state import _query as shared
from components.state._api import StateFeature
from components.state._base import BaseStateStore, check_delete, check_set
from components.state._etag import check_uuid_etag, given_etag, new_uuid_etag
from components.state._types import (
    BulkGetItem,
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
from components.state.sqlite._metadata import SqliteMetadata
from components.state.sqlite._migrations import migrate
from components.state.sqlite._query import build_list_keys, build_query
from components.state.sqlite._sql import CLEANUP_BATCH, Statements

__all__ = ["SqliteStateStore"]

_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _Write(msgspec.Struct, frozen=True):
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
        self._sql = Statements(metadata.table_name)
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
        async with self._exclusive() as conn:
            await migrate(conn, self._sql)

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
            if cursor.rowcount < CLEANUP_BATCH:
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
        sql, params, offset = build_query(self._sql, q, time.time())
        conn = await self._connection()
        rows = list(await conn.execute_fetchall(sql, params))
        token = None
        if q.limit is not None and len(rows) > q.limit:
            rows = rows[: q.limit]
            token = shared.encode_offset_token(offset + q.limit)
        items = [QueryItem(key=key, value=value, etag=etag) for key, value, etag in rows]
        return QueryResult(items=items, token=token)

    async def list_keys(self, req: ListKeysRequest) -> KeysPage:
        sql, params = build_list_keys(self._sql, req, time.time())
        conn = await self._connection()
        rows = await conn.execute_fetchall(sql, params)
        keys = [row[0] for row in rows]
        token = None
        if len(keys) > req.limit:
            keys = keys[: req.limit]
            token = shared.encode_key_token(keys[-1])
        return KeysPage(keys=keys, token=token)
