"""What the configuration cases share: updaters that change the backend directly, and a
recorder standing in for a subscriber.

An updater writes items the way a user or another program would, bypassing the component
(Dapr's conformance suite does the same): Redis ``MSET key "value||version"``, PostgreSQL
``INSERT ... ON CONFLICT``, or a rewrite of the file (atomically, by rename, as editors do).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import yaml
from redis.asyncio import Redis

from components.configuration import ConfigurationItem, Items
from components.configuration.postgresql import trigger_name
from components.state.redis._metadata import parse_host_port
from tests.servers import POSTGRES_DSN, REDIS_URL

__all__ = ["FileUpdater", "PostgresUpdater", "Recorder", "RedisUpdater", "Updater", "make_updater"]


class Updater(Protocol):
    async def set(self, items: Mapping[str, tuple[str, str]]) -> None:
        """Create or replace items: key -> (value, version)."""
        ...

    async def delete(self, keys: list[str]) -> None: ...

    async def aclose(self) -> None: ...


class RedisUpdater:
    def __init__(self, prefix: str) -> None:
        host, port = parse_host_port(REDIS_URL)
        self._client = Redis(host=host, port=port, db=0, decode_responses=True)
        self._prefix = prefix

    async def set(self, items: Mapping[str, tuple[str, str]]) -> None:
        await self._client.mset({self._prefix + k: f"{v}||{ver}" for k, (v, ver) in items.items()})

    async def delete(self, keys: list[str]) -> None:
        await self._client.delete(*[self._prefix + k for k in keys])

    async def aclose(self) -> None:
        stale = [k async for k in self._client.scan_iter(match=self._prefix + "*")]
        if stale:
            await self._client.delete(*stale)
        await self._client.aclose()


class PostgresUpdater:
    def __init__(self, table: str, channel: str) -> None:
        self._table, self._channel = table, channel
        self._conn: Any = None

    async def _db(self) -> Any:
        if self._conn is None:
            self._conn = await asyncpg.connect(POSTGRES_DSN)
        return self._conn

    async def set(self, items: Mapping[str, tuple[str, str]]) -> None:
        db = await self._db()
        await db.executemany(
            f'INSERT INTO "{self._table}" (key, value, version, metadata) '
            "VALUES ($1, $2, $3, '{}') ON CONFLICT (key) DO UPDATE "
            "SET value = EXCLUDED.value, version = EXCLUDED.version",
            [(k, v, ver) for k, (v, ver) in items.items()],
        )

    async def delete(self, keys: list[str]) -> None:
        db = await self._db()
        await db.execute(f'DELETE FROM "{self._table}" WHERE key = ANY($1::text[])', keys)

    async def aclose(self) -> None:
        db = await self._db()
        await db.execute(f'DROP TABLE IF EXISTS "{self._table}"')
        await db.execute(f"DROP FUNCTION IF EXISTS {trigger_name(self._table, self._channel)}()")
        await db.close()


class FileUpdater:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._items: dict[str, dict[str, str]] = {}

    def _write(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self._items), encoding="utf-8")
        os.replace(tmp, self._path)

    async def set(self, items: Mapping[str, tuple[str, str]]) -> None:
        self._items.update({k: {"value": v, "version": ver} for k, (v, ver) in items.items()})
        self._write()

    async def delete(self, keys: list[str]) -> None:
        for k in keys:
            self._items.pop(k, None)
        self._write()

    async def aclose(self) -> None:
        return None


def make_updater(kind: str, tmp: Path, unique_name: str) -> Updater:
    """The updater of a matrix entry; its names follow the manifests' placeholders."""
    if kind == "redis":
        return RedisUpdater(f"{unique_name}:")
    if kind == "postgresql":
        return PostgresUpdater(unique_name, unique_name)
    return FileUpdater(tmp / "configuration.yaml")


class Recorder:
    """A subscriber: every batch of items its handler got, in order."""

    def __init__(self) -> None:
        self.batches: list[dict[str, ConfigurationItem]] = []

    def __call__(self, items: Items) -> None:
        self.batches.append(dict(items))

    def latest(self) -> dict[str, ConfigurationItem]:
        """The last item received per key."""
        out: dict[str, ConfigurationItem] = {}
        for batch in self.batches:
            out.update(batch)
        return out

    def seen_keys(self) -> set[str]:
        return {k for batch in self.batches for k in batch}

    def clear(self) -> None:
        self.batches.clear()
