"""Tests of ``state.postgresql`` specifics against the real PostgreSQL on 127.0.0.1:5432.

The shared conformance suite covers the state contract; these cover what is particular to this
store: metadata parsing, concurrent migrations, SQL injection, numeric JSON queries, expiry
cleanup (and its coordination), reconnection after dropped connections and after a real
server stop/start (of a private server on a free port). Every test uses fresh table names and
drops them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import ValidationError

from components.base import ComponentContext
from components.errors import BulkError, ETagInvalid, ETagMismatch, InvalidRequest
from components.state import (
    And,
    Compare,
    DeleteRequest,
    GetRequest,
    In,
    ListKeysRequest,
    Op,
    Or,
    Query,
    SetRequest,
    SortKey,
)
from components.state.postgresql import PostgresMetadata, PostgresStateStore
from components.state.postgresql._metadata import parse_connection_string
from tests.brokers.private import PrivateServer, private_postgres
from tests.servers import POSTGRES_DSN, require_server, unique
from tests.waiting import eventually

KEYWORD_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"

StoreFactory = Callable[..., Awaitable[PostgresStateStore]]


def _context() -> ComponentContext:
    return ComponentContext(name="pg", app_id="app", namespace="default", home=Path("/tmp"))


async def _raw_count(table: str) -> int:
    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        return int(await conn.fetchval(f'SELECT count(*) FROM "{table}"'))
    finally:
        await conn.close()


async def _drop(*tables: str) -> None:
    conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        for table in tables:
            await conn.execute(f'DROP TABLE IF EXISTS "{table}"')
    finally:
        await conn.close()


@pytest.fixture
async def make_store() -> AsyncIterator[StoreFactory]:
    """Build and init stores on fresh tables; close them and drop the tables afterwards."""
    require_server("postgres")
    stores: list[PostgresStateStore] = []
    tables: set[str] = set()

    async def factory(**metadata: Any) -> PostgresStateStore:
        metadata.setdefault("connectionString", POSTGRES_DSN)
        metadata.setdefault("tableName", unique("tpg_state_"))
        metadata.setdefault("metadataTableName", unique("tpg_meta_"))
        metadata.setdefault("cleanupInterval", "0")
        store = PostgresStateStore(PostgresMetadata.model_validate(metadata), context=_context())
        stores.append(store)
        tables.update({metadata["tableName"], metadata["metadataTableName"]})
        await store.init()
        return store

    yield factory
    for store in stores:
        await store.close()
    await _drop(*tables)


# ---- metadata ------------------------------------------------------------------------------


def test_keyword_connection_string_becomes_a_dsn() -> None:
    target = parse_connection_string(
        "host=127.0.0.1 port = 5432 user=postgres password='p w\\'d' dbname=test "
        "pool_max_conns=7 connect_timeout=3 options='-c search_path=public'"
    )
    assert target.dsn.startswith("postgresql://?")
    assert "password=p+w%27d" in target.dsn
    assert "pool_max_conns" not in target.dsn
    assert "connect_timeout" not in target.dsn
    assert target.max_conns == 7
    assert target.server_settings == (("search_path", "public"),)
    assert target.description == "host=127.0.0.1 port=5432 dbname=test user=postgres"
    assert "p w" not in repr(target)


def test_url_connection_string_keeps_its_form() -> None:
    target = parse_connection_string("postgresql://u:secret@db.example:6543/appdb?sslmode=disable")
    assert target.dsn == "postgresql://u:secret@db.example:6543/appdb?sslmode=disable"
    assert target.description == "host=db.example:6543 dbname=appdb user=u"


def test_bad_connection_strings_are_rejected() -> None:
    for bad in ["", "mysql://x", "host", "password='open"]:
        with pytest.raises(ValidationError):
            PostgresMetadata.model_validate({"connectionString": bad})


def test_metadata_defaults_and_case_insensitive_names() -> None:
    md = PostgresMetadata.model_validate({"CONNECTIONSTRING": KEYWORD_DSN})
    assert md.table_name == "state"
    assert md.metadata_table_name == "tandem_metadata"
    assert md.timeout == 20.0
    assert md.cleanup_interval == 3600.0
    assert md.pool_size == 10
    assert "password" not in repr(PostgresMetadata.model_validate({"connectionString": "x=1"}))

    md = PostgresMetadata.model_validate(
        {"connectionstring": KEYWORD_DSN, "TableName": "Public.My_State", "maxconns": "3"}
    )
    assert md.table_name == "public.my_state"
    assert md.pool_size == 3


@pytest.mark.parametrize(
    ("name", "value", "seconds"),
    [
        ("cleanupInterval", "0", 0.0),
        ("cleanupInterval", "10", 10.0),
        ("cleanupInterval", "1m", 60.0),
        ("cleanupInterval", "", 3600.0),
        ("cleanupIntervalInSeconds", "0", 0.0),
        ("cleanupIntervalInSeconds", "10", 10.0),
        ("cleanupintervalinseconds", "1m", 60.0),
    ],
)
def test_cleanup_interval_parsing(name: str, value: str, seconds: float) -> None:
    md = PostgresMetadata.model_validate({"connectionString": KEYWORD_DSN, name: value})
    assert md.cleanup_interval == seconds


def test_timeout_aliases_and_unknown_fields() -> None:
    data = {"connectionString": KEYWORD_DSN, "timeoutInSeconds": "5", "tabelName": "typo"}
    md = PostgresMetadata.model_validate(data)
    assert md.timeout == 5.0
    assert PostgresMetadata.unknown_fields(data) == ["tabelName"]
    both = {"connectionString": KEYWORD_DSN, "timeout": "2s", "timeoutInSeconds": "5"}
    assert PostgresMetadata.model_validate(both).timeout == 2.0
    with pytest.raises(ValidationError):
        PostgresMetadata.model_validate({"connectionString": KEYWORD_DSN, "timeout": "0"})
    with pytest.raises(ValidationError, match="different tables"):
        PostgresMetadata.model_validate(
            {"connectionString": KEYWORD_DSN, "tableName": "t", "metadataTableName": "T"}
        )


@pytest.mark.parametrize(
    "name", ["state; DROP TABLE x", 'st"ate', "a.b.c", "1state", "x" * 64, "public.", "sp ace"]
)
def test_table_names_must_be_identifiers(name: str) -> None:
    with pytest.raises(ValidationError):
        PostgresMetadata.model_validate({"connectionString": KEYWORD_DSN, "tableName": name})


async def test_close_without_init_is_safe() -> None:
    md = PostgresMetadata.model_validate({"connectionString": KEYWORD_DSN})
    store = PostgresStateStore(md, context=_context())
    await store.close()
    await store.close()


@pytest.mark.postgres
async def test_init_failure_names_host_and_database() -> None:
    md = PostgresMetadata.model_validate(
        {"connectionString": "host=127.0.0.1 port=1 user=postgres dbname=nowhere", "timeout": "3s"}
    )
    store = PostgresStateStore(md, context=_context())
    with pytest.raises(ConnectionError, match=r"host=127\.0\.0\.1 port=1 dbname=nowhere"):
        await store.init()
    await store.close()


# ---- schema --------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_concurrent_inits_migrate_exactly_once(make_store: StoreFactory) -> None:
    table, meta = unique("tpg_state_"), unique("tpg_meta_")
    stores = await asyncio.gather(
        *(
            make_store(connectionString=KEYWORD_DSN, tableName=table, metadataTableName=meta)
            for _ in range(3)
        )
    )
    assert sorted(s.migrations_applied for s in stores) == [0, 0, 1]
    for i, store in enumerate(stores):
        await store.set(SetRequest(key=f"k{i}", value=f"v{i}".encode()))
    for store in stores:
        for i in range(3):
            item = await store.get(GetRequest(key=f"k{i}"))
            assert item is not None
            assert item.value == f"v{i}".encode()
    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        level = await conn.fetchval(
            f'SELECT value FROM "{meta}" WHERE key = $1', f"migrations:{table}"
        )
    finally:
        await conn.close()
    assert level == "1"
    again = await make_store(tableName=table, metadataTableName=meta)
    assert again.migrations_applied == 0


@pytest.mark.postgres
async def test_foreign_table_layout_fails_init(make_store: StoreFactory) -> None:
    table = unique("tpg_state_")
    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        await conn.execute(f'CREATE TABLE "{table}" (key TEXT PRIMARY KEY, value JSONB)')
    finally:
        await conn.close()
    with pytest.raises(RuntimeError, match="not created by Tandem"):
        await make_store(tableName=table)


# ---- data ----------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_sql_injection_round_trips(make_store: StoreFactory) -> None:
    store = await make_store()
    nasty = ["DROP TABLE dapr_user", "dapr' OR '1'='1", "x'); DROP TABLE x; --", 'a"b\\c$1']
    for text in nasty:
        await store.set(SetRequest(key=text, value=text.encode()))
    for text in nasty:
        item = await store.get(GetRequest(key=text))
        assert item is not None
        assert item.value == text.encode()
    got = await store.bulk_get([GetRequest(key=t) for t in nasty])
    assert [g.item.value if g.item else None for g in got] == [t.encode() for t in nasty]
    page = await store.list_keys(ListKeysRequest(prefix="dapr' OR", limit=10))
    assert page.keys == ["dapr' OR '1'='1"]
    await store.set(SetRequest(key="doc", value=b"{\"name\": \"dapr' OR '1'='1\"}"))
    res = await store.query(Query(key_prefix="", filter=Compare(Op.EQ, "name", "dapr' OR '1'='1")))
    assert [i.key for i in res.items] == ["doc"]
    with pytest.raises(InvalidRequest):
        await store.query(Query(key_prefix="", filter=Compare(Op.EQ, "a') OR (1=1", 1)))
    for text in nasty:
        await store.delete(DeleteRequest(key=text))
        assert await store.get(GetRequest(key=text)) is None
    assert await _raw_count(store._md.table_name) == 1


@pytest.mark.postgres
async def test_etags(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.set(SetRequest(key="k", value=b"1"))
    item = await store.get(GetRequest(key="k"))
    assert item is not None
    assert item.etag is not None
    with pytest.raises(ETagInvalid):
        await store.set(SetRequest(key="k", value=b"2", etag="1"))
    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(key="k", value=b"2", etag=str(uuid.uuid4())))
    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(key="missing", value=b"2", etag=item.etag))
    await store.set(SetRequest(key="k", value=b"2", etag=item.etag.upper()))
    new = await store.get(GetRequest(key="k"))
    assert new is not None
    assert new.etag != item.etag
    # "" is no ETag (Dapr's rule): a plain write / delete
    await store.set(SetRequest(key="k", value=b"3", etag=""))
    with pytest.raises(BulkError) as err:
        await store.bulk_delete(
            [DeleteRequest(key="k", etag=item.etag), DeleteRequest(key="k2", etag="bad")]
        )
    assert set(err.value.errors) == {"k", "k2"}
    assert isinstance(err.value.errors["k"], ETagMismatch)
    assert isinstance(err.value.errors["k2"], ETagInvalid)
    await store.delete(DeleteRequest(key="k", etag=""))
    assert await store.get(GetRequest(key="k")) is None


@pytest.mark.postgres
async def test_transaction_rolls_back_on_etag_mismatch(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.set(SetRequest(key="a", value=b"old"))
    bad = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(ETagMismatch):
        await store.transact(
            [
                SetRequest(key="a", value=b"new"),
                DeleteRequest(key="b"),
                SetRequest(key="c", value=b"c", etag=bad),
            ]
        )
    item = await store.get(GetRequest(key="a"))
    assert item is not None
    assert item.value == b"old"
    await store.transact(
        [SetRequest(key="x", value=b"1"), DeleteRequest(key="x"), SetRequest(key="y", value=b"2")]
    )
    assert await store.get(GetRequest(key="x")) is None
    assert await store.get(GetRequest(key="y")) is not None


async def test_query_compares_numbers_numerically_on_nested_paths(
    make_store: StoreFactory,
) -> None:
    store = await make_store()
    docs = {
        "p||active": b'{"product":{"value":15},"status":"ACTIVE","message":"m"}',
        "p||inactive": b'{"product":{"value":12},"status":"INACTIVE","message":"m"}',
        "p||float": b'{"product":{"value":9.5},"status":"ACTIVE","message":"m"}',
        "p||text": b'{"product":{"value":"99"},"status":"ACTIVE","message":"m"}',
        "p||array": b'{"product":[{"value":15}],"status":"ACTIVE","message":"m"}',
        "p||raw": b"\x08\xff",
        "q||other": b'{"product":{"value":15},"status":"ACTIVE","message":"m"}',
    }
    for key, value in docs.items():
        await store.set(SetRequest(key=key, value=value))

    async def keys(f: Any, **kw: Any) -> list[str]:
        return [i.key for i in (await store.query(Query(key_prefix="p||", filter=f, **kw))).items]

    in_range = And(
        (
            Compare(Op.EQ, "message", "m"),
            Compare(Op.GTE, "product.value", 10),
            Compare(Op.LT, "product.value", 20),
            Compare(Op.NEQ, "status", "INACTIVE"),
        )
    )
    assert await keys(in_range) == ["p||active"]
    either = Or(
        (
            And((Compare(Op.GT, "product.value", 11.1), Compare(Op.EQ, "status", "INACTIVE"))),
            And((Compare(Op.LTE, "product.value", 0.5), Compare(Op.EQ, "status", "ACTIVE"))),
        )
    )
    assert await keys(either) == ["p||inactive"]
    assert await keys(Compare(Op.EQ, "product.value", 15.0)) == ["p||active"]
    assert await keys(Compare(Op.LT, "product.value", 10)) == ["p||float"]
    assert await keys(Compare(Op.GT, "product.value", "5")) == ["p||text"]
    assert await keys(In("product.value", (12, "99"))) == ["p||inactive", "p||text"]
    assert await keys(Compare(Op.NEQ, "status", "ACTIVE")) == ["p||inactive"]
    assert await keys(None, sort=[SortKey("product.value", descending=True)]) == [
        "p||text",
        "p||active",
        "p||inactive",
        "p||float",
        "p||array",
    ]
    page1 = await store.query(Query(key_prefix="p||", limit=2))
    assert [i.key for i in page1.items] == ["p||active", "p||array"]
    assert page1.token is not None
    page2 = await store.query(Query(key_prefix="p||", limit=2, token=page1.token))
    page3 = await store.query(Query(key_prefix="p||", limit=2, token=page2.token))
    assert [i.key for i in page2.items] == ["p||float", "p||inactive"]
    assert [i.key for i in page3.items] == ["p||text"]
    assert page3.token is None
    with pytest.raises(InvalidRequest):
        await store.query(Query(key_prefix="p||", token="not a token"))
    with pytest.raises(InvalidRequest):
        await keys(Compare(Op.GT, "product.value", True))


@pytest.mark.postgres
async def test_values_jsonb_rejects_are_stored_but_not_queried(make_store: StoreFactory) -> None:
    store = await make_store()
    odd = {
        "nul": b'{"a": "\\u0000"}',
        "surrogate": b'{"a": "\\ud800"}',
        "huge": b'{"a": 1e200000}',
        "nan": b'{"a": NaN}',
        "binary": b"\x00\xff",
    }
    for key, value in odd.items():
        await store.set(SetRequest(key=key, value=value))
    await store.transact([SetRequest(key="tx", value=odd["nul"])])
    for key, value in {**odd, "tx": odd["nul"]}.items():
        item = await store.get(GetRequest(key=key))
        assert item is not None
        assert item.value == value
    await store.set(SetRequest(key="ok", value=b'{"a": 1e1000}'))
    result = await store.query(Query(key_prefix=""))
    assert [i.key for i in result.items] == ["ok"]


@pytest.mark.postgres
async def test_list_keys_pages_in_key_order(make_store: StoreFactory) -> None:
    store = await make_store()
    keys = ["a||1", "a||10", "a||2", "a||\u00e9", "a||\U0001f600", "a|", "b||1"]
    for key in keys:
        await store.set(SetRequest(key=key, value=b"x"))
    await store.set(SetRequest(key="a||expired", value=b"x", ttl_seconds=1))
    seen: list[str] = []
    token = None
    while True:
        page = await store.list_keys(ListKeysRequest(prefix="a||", limit=2, token=token))
        seen.extend(page.keys)
        token = page.token
        if token is None:
            break
        assert len(page.keys) == 2
    assert seen[:3] == ["a||1", "a||10", "a||2"]
    assert set(seen) - {"a||expired"} == {"a||1", "a||10", "a||2", "a||\u00e9", "a||\U0001f600"}

    async def expired_hidden() -> bool:
        page = await store.list_keys(ListKeysRequest(prefix="a||", limit=100))
        return "a||expired" not in page.keys

    await eventually(expired_hidden, within=5)
    with pytest.raises(InvalidRequest):
        await store.list_keys(ListKeysRequest(prefix="a||", token="!!"))


@pytest.mark.postgres
async def test_expired_rows_are_invisible_then_cleaned(make_store: StoreFactory) -> None:
    store = await make_store(cleanupInterval="1s")
    table = store._md.table_name
    for i in range(10):
        await store.set(SetRequest(key=f"exp{i}", value=b"x", ttl_seconds=1))
        await store.set(SetRequest(key=f"keep{i}", value=b"x"))
    item = await store.get(GetRequest(key="exp0"))
    assert item is not None
    assert item.expires_at is not None

    async def cleaned() -> bool:
        return await _raw_count(table) == 10

    assert await _raw_count(table) == 20  # rows live until their expiry...
    await eventually(cleaned, within=10)  # ...then the cleanup removes them
    assert await store.get(GetRequest(key="exp0")) is None
    assert await store.get(GetRequest(key="keep0")) is not None


@pytest.mark.postgres
async def test_cleanup_runs_once_per_interval_across_processes(make_store: StoreFactory) -> None:
    table, meta = unique("tpg_state_"), unique("tpg_meta_")
    a = await make_store(tableName=table, metadataTableName=meta, cleanupInterval="1h")
    b = await make_store(tableName=table, metadataTableName=meta, cleanupInterval="1h")
    await a.set(SetRequest(key="gone", value=b"x", ttl_seconds=1))

    async def invisible() -> bool:
        return await a.get(GetRequest(key="gone")) is None

    await eventually(invisible, within=5)
    assert await _raw_count(table) == 1  # expired but still stored
    assert await a.cleanup_expired() == 1
    assert await b.cleanup_expired() is None  # claimed within the interval by a
    assert await a.cleanup_expired() is None


# ---- resilience ----------------------------------------------------------------------------


@pytest.mark.postgres
async def test_dropped_connections_cost_no_failed_request(make_store: StoreFactory) -> None:
    """Server-side terminated pool connections: the next calls (reads and writes) still work."""
    app = unique("tandem_test_")
    store = await make_store(connectionString=f"{KEYWORD_DSN} application_name={app}")
    await store.set(SetRequest(key="k", value=b"v"))
    admin = await asyncpg.connect(POSTGRES_DSN)

    async def kill_all() -> None:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
            "WHERE application_name = $1",
            app,
        )
        assert killed >= 1

    try:
        await kill_all()
        item = await store.get(GetRequest(key="k"))  # an idempotent read: may retry
        assert item is not None
        assert item.value == b"v"
        assert item.etag is not None
        await kill_all()
        # an ETag write is never repeated once sent; a terminated connection is found out
        # before sending
        await store.set(SetRequest(key="k", value=b"w", etag=item.etag))
        await kill_all()
        await store.transact([DeleteRequest(key="k"), SetRequest(key="k2", value=b"x")])
    finally:
        await admin.close()
    assert await store.get(GetRequest(key="k")) is None


class _Proxy:
    """A TCP proxy to PostgreSQL that can black-hole traffic (a hung server or network)."""

    def __init__(self) -> None:
        self.blackhole = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> _Proxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.drop_all()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def drop_all(self) -> None:
        for writer in list(self._writers):
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 5432)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._tasks.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        for w in (writer, up_writer):
            w.close()
            self._writers.discard(w)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if not self.blackhole:
                    writer.write(data)
                    await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.mark.postgres
async def test_hung_server_times_out_and_recovers(make_store: StoreFactory) -> None:
    """A server that stops answering: calls fail (their ``timeout`` ends them); recovery needs
    no restart."""
    async with _Proxy() as proxy:
        store = await make_store(
            connectionString=f"postgresql://postgres@127.0.0.1:{proxy.port}/test", timeout="1s"
        )
        await store.set(SetRequest(key="k", value=b"v"))
        proxy.blackhole = True
        for call in (
            lambda: store.get(GetRequest(key="k")),
            lambda: store.set(SetRequest(key="k", value=b"w")),
            lambda: store.list_keys(ListKeysRequest(prefix="")),
        ):
            # a blackholed call never ends on its own: its own timeout must end it (the
            # deadline cancels it instead, which pytest.raises does not take for a TimeoutError)
            async with asyncio.timeout(60):
                with pytest.raises(TimeoutError):
                    await call()
        proxy.blackhole = False
        proxy.drop_all()  # the partition ends with the old connections reset
        failures = 0

        async def serves() -> bool:
            nonlocal failures
            try:
                return await store.get(GetRequest(key="k")) is not None
            except Exception:
                failures += 1
                return False

        await eventually(serves, within=30, interval=0.02)  # a deadline, not a speed
        assert failures <= 1  # one call on a reset connection, no more


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[PrivateServer]:
    """A PostgreSQL of the test's own, which it may stop (requested before ``make_store``:
    the stores are closed while it still runs)."""
    with private_postgres(tmp_path / "postgres") as server:
        yield server


@pytest.mark.postgres
async def test_server_restart(private_server: PrivateServer, make_store: StoreFactory) -> None:
    """Stop the server (a private one): a get fails; after start the same store serves."""
    dsn = f"postgresql://postgres@127.0.0.1:{private_server.port}/postgres"
    store = await make_store(connectionString=dsn, timeout="3s")
    await store.set(SetRequest(key="k", value=b"v"))
    private_server.stop()
    async with asyncio.timeout(60):  # a hang detector; the outcome is the error
        with pytest.raises(Exception):  # noqa: B017, PT011 (any error, as long as it comes)
            await store.get(GetRequest(key="k"))
    private_server.start()  # returns once it takes queries
    failures = 0

    async def serves() -> bool:
        nonlocal failures
        try:
            item = await store.get(GetRequest(key="k"))
        except Exception:
            failures += 1
            return False
        return item is not None and item.value == b"v"

    await eventually(serves, within=30, interval=0.02)  # a deadline, not a speed
    assert failures <= 1
    await store.set(SetRequest(key="k2", value=b"v2"))
    assert await store.get(GetRequest(key="k2")) is not None
