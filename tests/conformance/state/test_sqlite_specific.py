"""``state.sqlite`` behaviour beyond the shared suite.

Metadata (defaults, validation, case-insensitive names), where the file goes, schema versions
(recorded, newer refused), the background cleanup of expired rows, several *processes* on one
file, and a cancelled transaction (atomic, and the connection stays usable).
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from components.base import ComponentContext
from components.errors import ComponentError, ETagMismatch, InvalidRequest
from components.state import (
    Compare,
    Concurrency,
    DeleteRequest,
    GetRequest,
    ListKeysRequest,
    Op,
    Query,
    SetRequest,
)
from components.state.sqlite import SCHEMA_VERSION, SqliteMetadata, SqliteStateStore
from tests.conformance._harness import eventually

REPO = Path(__file__).resolve().parents[3]


def _store(home: Path, **metadata: Any) -> SqliteStateStore:
    context = ComponentContext(name="statestore", app_id="app", namespace="default", home=home)
    return SqliteStateStore(SqliteMetadata.model_validate(metadata), context=context)


def _rows(db: Path, sql: str, *params: Any) -> list[Any]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


def test_metadata_defaults_and_parsing() -> None:
    default = SqliteMetadata.model_validate({})
    assert default.connection_string is None
    assert default.table_name == "state"
    assert default.timeout == 20.0
    assert default.cleanup_interval == 3600.0
    parsed = SqliteMetadata.model_validate(
        {"CONNECTIONSTRING": "x.db", "tablename": "t1", "Timeout": "1m30s", "cleanupInterval": "0"}
    )
    assert parsed.connection_string == "x.db"
    assert parsed.table_name == "t1"
    assert parsed.timeout == 90.0
    assert parsed.cleanup_interval == 0.0


@pytest.mark.parametrize(
    "field",
    [
        {"tableName": 'state"; DROP TABLE x; --'},
        {"tableName": "metadata"},
        {"tableName": "sqlite_master"},
        {"tableName": "1table"},
        {"tableName": ""},
        {"timeout": "0s"},
        {"cleanupInterval": "-1"},
        {"timeout": "soon"},
    ],
)
def test_metadata_rejects_bad_values(field: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        SqliteMetadata.model_validate(field)


async def test_default_file_lives_under_home(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        await store.init()
        await store.set(SetRequest(key="k", value=b"v"))
    finally:
        await store.close()
    db = tmp_path / "state" / "statestore.db"
    assert _rows(db, "SELECT key, value FROM state") == [("k", b"v")]


async def test_file_uri_creates_its_folder(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "x.db"
    store = _store(tmp_path, connectionString=f"file:{db}?mode=rwc")
    try:
        await store.init()
        await store.set(SetRequest(key="k", value=b"v"))
    finally:
        await store.close()
    assert _rows(db, "SELECT value FROM state") == [(b"v",)]


async def test_schema_version_is_recorded_and_tables_are_independent(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    one = _store(tmp_path, connectionString=str(db), tableName="one")
    two = _store(tmp_path, connectionString=str(db), tableName="two")
    try:
        await one.init()
        await two.init()
        await one.set(SetRequest(key="k", value=b"1"))
        assert await two.get(GetRequest(key="k")) is None
    finally:
        await one.close()
        await two.close()
    versions = dict(_rows(db, "SELECT key, value FROM metadata"))
    assert versions == {
        "schema_version:one": str(SCHEMA_VERSION),
        "schema_version:two": str(SCHEMA_VERSION),
    }


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    first = _store(tmp_path, connectionString=str(db))
    await first.init()
    await first.close()
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "UPDATE metadata SET value = ? WHERE key = 'schema_version:state'",
            (str(SCHEMA_VERSION + 1),),
        )
    later = _store(tmp_path, connectionString=str(db))
    with pytest.raises(ComponentError, match="newer"):
        await later.init()
    await later.close()


async def test_failed_init_then_close_is_safe(tmp_path: Path) -> None:
    store = _store(tmp_path, connectionString=str(tmp_path))  # a folder, not a file
    with pytest.raises(sqlite3.Error):
        await store.init()
    await store.close()
    await store.close()


async def test_expired_rows_stay_until_cleanup_when_it_is_disabled(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    store = _store(tmp_path, connectionString=str(db), cleanupInterval="0")
    try:
        await store.init()
        await store.set(SetRequest(key="short-1", value=b"v", ttl_seconds=1))
        await store.set(SetRequest(key="short-2", value=b"v", ttl_seconds=1))
        await store.set(SetRequest(key="long", value=b"v"))
        stale = await store.get(GetRequest(key="short-2"))
        assert stale is not None

        async def expired() -> bool:
            return await store.get(GetRequest(key="short-2")) is None

        await eventually(expired, within=3.0)
        assert len(_rows(db, "SELECT key FROM state")) == 3  # invisible, not deleted
        # Expired rows still in the table behave as missing for conditional writes too.
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(key="short-2", value=b"late", etag=stale.etag))
        with pytest.raises(ETagMismatch):
            await store.delete(DeleteRequest(key="short-2", etag=stale.etag))
        await store.set(
            SetRequest(key="short-1", value=b"again", concurrency=Concurrency.FIRST_WRITE)
        )
        assert (await store.list_keys(ListKeysRequest(prefix=""))).keys == ["long", "short-1"]
        assert await store.delete_expired() == 1
        assert _rows(db, "SELECT key FROM state ORDER BY key") == [("long",), ("short-1",)]
    finally:
        await store.close()


async def test_background_cleanup_deletes_expired_rows(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    store = _store(tmp_path, connectionString=str(db), cleanupInterval="100ms")
    try:
        await store.init()
        await store.set(SetRequest(key="short", value=b"v", ttl_seconds=1))
        await store.set(SetRequest(key="long", value=b"v"))

        async def cleaned() -> bool:
            return _rows(db, "SELECT key FROM state") == [("long",)]

        await eventually(cleaned, within=4.0)
    finally:
        await store.close()


async def test_query_paths_are_checked_before_sql(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        await store.init()
        for path in ("a'b", "$.a", "a[0]", "a..b", "a b"):
            with pytest.raises(InvalidRequest):
                await store.query(Query(key_prefix="", filter=Compare(Op.EQ, path, 1)))
    finally:
        await store.close()


async def test_values_with_nul_bytes_are_not_json(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        await store.init()
        await store.set(SetRequest(key="p-nul", value=b"123\x00garbage"))
        await store.set(SetRequest(key="p-json", value=b"123"))
        result = await store.query(Query(key_prefix="p-"))
        assert [item.key for item in result.items] == ["p-json"]
    finally:
        await store.close()


_INCREMENTER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from components.base import ComponentContext
    from components.errors import ETagMismatch
    from components.state import GetRequest, SetRequest
    from components.state.sqlite import SqliteMetadata, SqliteStateStore

    async def main(db, times):
        md = SqliteMetadata.model_validate({"connectionString": db, "cleanupInterval": "0"})
        ctx = ComponentContext(name="s", app_id="p", namespace="default", home=Path(db).parent)
        store = SqliteStateStore(md, context=ctx)
        await store.init()
        print("ready", flush=True)
        done = 0
        while done < times:
            item = await store.get(GetRequest(key="counter"))
            value = str(int(item.value) + 1).encode()
            try:
                await store.set(SetRequest(key="counter", value=value, etag=item.etag))
            except ETagMismatch:
                continue
            done += 1
        await store.close()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def _increment(store: SqliteStateStore, times: int) -> None:
    done = 0
    while done < times:
        item = await store.get(GetRequest(key="counter"))
        assert item is not None
        try:
            await store.set(
                SetRequest(key="counter", value=str(int(item.value) + 1).encode(), etag=item.etag)
            )
        except ETagMismatch:
            continue
        done += 1


async def test_processes_sharing_a_file_lose_no_update(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    store = _store(tmp_path, connectionString=str(db), cleanupInterval="0")
    await store.init()
    try:
        await store.set(SetRequest(key="counter", value=b"0"))
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _INCREMENTER,
            str(db),
            "40",
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        ready = await asyncio.wait_for(child.stdout.readline(), 20)
        assert ready == b"ready\n"
        await asyncio.gather(_increment(store, 40), _increment(store, 40))
        _, err = await asyncio.wait_for(child.communicate(), 20)
        assert child.returncode == 0, err.decode()
        item = await store.get(GetRequest(key="counter"))
        assert item is not None
        assert item.value == b"120"
    finally:
        await store.close()


async def test_cancelled_transaction_is_atomic_and_connection_recovers(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    store = _store(tmp_path, connectionString=str(db), cleanupInterval="0")
    await store.init()
    try:
        keys = [f"tx-{i:04d}" for i in range(500)]
        task = asyncio.create_task(store.transact([SetRequest(key=k, value=b"v") for k in keys]))
        await asyncio.sleep(0)  # let it start
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await store.set(SetRequest(key="after", value=b"a"))
        # Another connection sees the write, so it is committed, not inside a leftover
        # transaction; the transaction itself is all or nothing.
        assert _rows(db, "SELECT value FROM state WHERE key = 'after'") == [(b"a",)]
        present = _rows(db, "SELECT count(*) FROM state WHERE key LIKE 'tx-%'")[0][0]
        assert present in (0, len(keys))
    finally:
        await store.close()
