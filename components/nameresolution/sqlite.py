"""``nameresolution.sqlite`` (the default): every sidecar on the machine registers in one file.

Each sidecar writes (app id, namespace, host, internal port, pid, hostname, heartbeat) into
``$TANDEM_HOME/data/nameresolution.db`` when its internal port listens, refreshes the heartbeat
every ``heartbeatInterval`` and deletes its row on shutdown. An entry is live while its
heartbeat is younger than ``ttl`` and, when it was written on this machine, while its pid
exists: a sidecar killed with SIGKILL disappears at once for its neighbours, one that vanished
on another machine sharing the file after ``ttl``. Dead entries are deleted by whoever sees
them. Answers are kept ``cacheTime`` in memory (a lookup per request would cost a file read),
so a new replica is seen within that time.

Metadata: ``path`` (default ``$TANDEM_HOME/data/nameresolution.db``), ``ttl`` (10s),
``heartbeatInterval`` (2s), ``cacheTime`` (1s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator

from components._metadata import Duration
from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.nameresolution._api import Address, NameResolutionFeature, Registration

__all__ = ["SqliteMetadata", "SqliteResolver", "pid_alive"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sidecars (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sidecars_app ON sidecars (app_id, namespace);
"""


_MAX_CACHED = 1024


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class SqliteMetadata(BaseMetadata):
    path: str = ""
    ttl: Duration = 10.0
    heartbeat_interval: Duration = Field(default=2.0, alias="heartbeatInterval")
    cache_time: Duration = Field(default=1.0, alias="cacheTime")

    @model_validator(mode="after")
    def _bounds(self) -> SqliteMetadata:
        if self.ttl <= 0 or self.heartbeat_interval <= 0:
            raise ValueError("ttl and heartbeatInterval must be positive")
        if self.heartbeat_interval >= self.ttl:
            raise ValueError("heartbeatInterval must be shorter than ttl")
        return self


class SqliteResolver:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="nameresolution.sqlite")
    Metadata: ClassVar[type[BaseMetadata]] = SqliteMetadata

    def __init__(self, metadata: SqliteMetadata, *, context: ComponentContext) -> None:
        self._md = metadata
        self._path = (
            Path(metadata.path) if metadata.path else context.home / "data" / "nameresolution.db"
        )
        self._log = context.logger
        self._hostname = socket.gethostname()
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one connection, used from worker threads
        self._entry: str | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._cache: dict[tuple[str, str], tuple[float, list[Address]]] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[list[Address]]] = {}

    def features(self) -> frozenset[NameResolutionFeature]:
        return frozenset({NameResolutionFeature.REGISTER})

    async def init(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, timeout=5.0, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        self._db = db

    async def close(self) -> None:
        await self.unregister()
        db, self._db = self._db, None
        if db is not None:
            with self._lock:
                db.close()

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            if self._db is None:
                raise RuntimeError("nameresolution.sqlite is not initialised")
            return self._db.execute(sql, params).fetchall()

    # ---- registry -------------------------------------------------------------------------

    async def register(self, registration: Registration) -> None:
        await self.unregister()
        entry = uuid.uuid4().hex
        r = registration
        await asyncio.to_thread(
            self._run,
            "INSERT INTO sidecars VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry,
                r.app_id,
                r.namespace,
                r.address.host,
                r.address.port,
                r.pid,
                r.hostname,
                time.time(),
            ),
        )
        self._entry = entry
        self._heartbeat = asyncio.create_task(self._beat(entry), name="nameresolution-heartbeat")

    async def _beat(self, entry: str) -> None:
        while True:
            await asyncio.sleep(self._md.heartbeat_interval)
            try:
                await asyncio.to_thread(
                    self._run,
                    "UPDATE sidecars SET heartbeat = ? WHERE id = ?",
                    (time.time(), entry),
                )
            except sqlite3.Error as exc:  # a locked or vanished file: try again next beat
                self._log.warning("name resolution heartbeat failed: %s", exc)

    async def unregister(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        entry, self._entry = self._entry, None
        if entry is not None and self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                await asyncio.to_thread(self._run, "DELETE FROM sidecars WHERE id = ?", (entry,))

    # ---- lookup ---------------------------------------------------------------------------

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        key = (app_id, namespace)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._md.cache_time:
            return list(cached[1])
        # one lookup per key at a time: the calls that miss together share it
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.ensure_future(
                asyncio.to_thread(self._lookup, app_id, namespace)
            )
            pending.add_done_callback(lambda done: self._settled(key, done))
        found = await asyncio.shield(pending)
        if len(self._cache) >= _MAX_CACHED:  # callers may name any number of app ids
            self._cache.clear()
        self._cache[key] = (now, found)
        return list(found)

    def _settled(self, key: tuple[str, str], done: asyncio.Future[list[Address]]) -> None:
        self._pending.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: the callers that were waiting (if any) have it

    def _lookup(self, app_id: str, namespace: str) -> list[Address]:
        rows = self._run(
            "SELECT id, host, port, pid, hostname FROM sidecars "
            "WHERE app_id = ? AND namespace = ? AND heartbeat > ?",
            (app_id, namespace, time.time() - self._md.ttl),
        )
        live: list[Address] = []
        for entry, host, port, pid, hostname in rows:
            if hostname == self._hostname and not pid_alive(int(pid)):  # type: ignore[call-overload]
                with contextlib.suppress(sqlite3.Error):
                    self._run("DELETE FROM sidecars WHERE id = ?", (entry,))
                continue
            live.append(Address(str(host), int(port)))  # type: ignore[call-overload]
        return sorted(set(live))
