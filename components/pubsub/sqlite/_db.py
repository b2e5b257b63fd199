"""One SQLite connection on its own thread, and a batcher that groups writes into transactions.

``Database.run(fn, *args)`` runs ``fn(conn, *args)`` on the connection's thread: a whole
transaction is one hop from the event loop, and it runs to its end (commit or rollback) even when
the awaiting coroutine is cancelled, so no transaction is ever left half done. (aiosqlite, as the
state store uses it, costs one hop per statement and cannot give that guarantee.)

Writes are grouped by ``components.pubsub._batch.Batcher``: many publishes or acknowledgements
share one commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from components.errors import ComponentError

__all__ = ["Database", "transaction"]

R = TypeVar("R")

_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` (the write lock first, waiting up to the busy timeout) ... ``COMMIT``;
    any exception rolls back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class Database:
    def __init__(self, database: str, *, uri: bool, timeout: float, name: str) -> None:
        self._database = database
        self._uri = uri
        self._timeout = timeout
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        try:
            self._conn = await self._submit(self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._database,
            uri=self._uri,
            timeout=self._timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            # Switching to WAL needs an exclusive lock and SQLite does not call the busy handler
            # for it: processes opening a fresh file together retry with backoff.
            deadline = time.monotonic() + self._timeout
            pause = 0.005
            while True:
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                    break
                except sqlite3.OperationalError as exc:
                    code = getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_BUSY)
                    if code not in _BUSY or time.monotonic() + pause > deadline:
                        raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    async def _submit(self, fn: Callable[..., R], *args: Any) -> R:
        if self._executor is None:
            raise ComponentError(f"{self._name}: the database is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """``fn(conn, *args)`` on the connection's thread."""
        conn = self._conn
        if conn is None:
            raise ComponentError(f"{self._name}: the database is not open")
        return await self._submit(fn, conn, *args)

    async def close(self) -> None:
        executor, conn = self._executor, self._conn
        self._conn = None
        if executor is None:
            return
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        self._executor = None
        executor.shutdown(wait=False)
