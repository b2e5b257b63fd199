"""Redis-specific behaviour of ``state.redis`` against the real server on 127.0.0.1:6379.

The shared conformance suite covers the state contract; these tests cover what only Redis has:
the Dapr-compatible data layout, version ETags, TTLs as seen by Redis, metadata parsing, SCAN
paging, and reconnection after a real restart (of a private server on a free port).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis
from pydantic import ValidationError

from components.base import ComponentContext
from components.errors import BulkError, ETagInvalid, ETagMismatch, InvalidRequest
from components.state import (
    Concurrency,
    DeleteRequest,
    GetRequest,
    KeyLister,
    ListKeysRequest,
    QueryableStateStore,
    SetRequest,
    StateFeature,
    StateItem,
    TransactionalStateStore,
)
from components.state.redis import RedisStateMetadata, RedisStateStore, _scripts
from runtime.catalog import CATALOG
from tests.brokers.private import private_redis
from tests.servers import REDIS_URL, require_server, unique
from tests.waiting import eventually

pytestmark = pytest.mark.redis


def _context() -> ComponentContext:
    return ComponentContext(
        name="statestore",
        app_id="app",
        namespace="default",
        home=Path("/nonexistent"),
        logger=logging.getLogger("tests.redis_state"),
    )


def _store(**metadata: Any) -> RedisStateStore:
    md = RedisStateMetadata.model_validate({"redisHost": REDIS_URL, **metadata})
    return RedisStateStore(md, context=_context())


@pytest.fixture
async def store() -> AsyncIterator[RedisStateStore]:
    require_server("redis")
    s = _store()
    await s.init()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def raw() -> AsyncIterator[aredis.Redis]:
    require_server("redis")
    host, _, port = REDIS_URL.rpartition(":")
    client = aredis.Redis(host=host, port=int(port), decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def prefix() -> str:
    return unique("redis-state-") + "||"


async def _cleanup(raw: aredis.Redis, prefix: str) -> None:
    keys = [k async for k in raw.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await raw.delete(*keys)


# ---- layout and ETags ---------------------------------------------------------------------


async def test_layout_is_dapr_compatible(
    store: RedisStateStore, raw: aredis.Redis, prefix: str
) -> None:
    key = prefix + "k"
    try:
        await store.set(SetRequest(key=key, value=b"\x00\xffbinary"))
        assert await raw.type(key) == b"hash"
        assert await raw.hgetall(key) == {b"data": b"\x00\xffbinary", b"version": b"1"}
        await store.set(SetRequest(key=key, value=b"second"))
        assert await raw.hget(key, "version") == b"2"
        assert await raw.hget(key, "data") == b"second"
    finally:
        await _cleanup(raw, prefix)


async def test_reads_and_updates_what_dapr_wrote(
    store: RedisStateStore, raw: aredis.Redis, prefix: str
) -> None:
    key = prefix + "from-dapr"
    try:
        await raw.hset(key, mapping={"data": b'"hello"', "version": 41})
        item = await store.get(GetRequest(key=key))
        assert item is not None
        assert (item.value, item.etag, item.expires_at) == (b'"hello"', "41", None)
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(key=key, value=b"x", etag="40"))
        await store.set(SetRequest(key=key, value=b"x", etag="41"))
        assert await raw.hgetall(key) == {b"data": b"x", b"version": b"42"}
    finally:
        await _cleanup(raw, prefix)


async def test_etag_counter(store: RedisStateStore, raw: aredis.Redis, prefix: str) -> None:
    key = prefix + "e"
    try:
        await store.set(SetRequest(key=key, value=b"v1"))
        first = await store.get(GetRequest(key=key))
        assert first is not None
        assert first.etag == "1"
        await store.set(SetRequest(key=key, value=b"v2", etag="1"))
        second = await store.get(GetRequest(key=key))
        assert second is not None
        assert (second.etag, second.value) == ("2", b"v2")
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(key=key, value=b"v3", etag="1"))
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(key=key, value=b"v3", etag="9999999"))
        for bad in ("abc", "0", "-1", "01", "1.0", " 2"):
            with pytest.raises(ETagInvalid):
                await store.set(SetRequest(key=key, value=b"v3", etag=bad))
            with pytest.raises(ETagInvalid):
                await store.delete(DeleteRequest(key=key, etag=bad))
        # an empty ETag is no ETag (Dapr's rule): last write wins
        await store.set(SetRequest(key=key, value=b"v3", etag=""))
        assert await raw.hget(key, "version") == b"3"
        with pytest.raises(ETagMismatch):
            await store.delete(DeleteRequest(key=key, etag="2"))
        await store.delete(DeleteRequest(key=key, etag="3"))
        assert await raw.exists(key) == 0
        # a delete with an ETag of a missing key is a mismatch, without one it is fine
        with pytest.raises(ETagMismatch):
            await store.delete(DeleteRequest(key=key, etag="3"))
        await store.delete(DeleteRequest(key=key))
        # recreated keys start again at version 1
        await store.set(SetRequest(key=key, value=b"again"))
        assert await raw.hget(key, "version") == b"1"
    finally:
        await _cleanup(raw, prefix)


async def test_first_write(store: RedisStateStore, raw: aredis.Redis, prefix: str) -> None:
    key = prefix + "fw"
    first = Concurrency.FIRST_WRITE
    try:
        for etag in (None, ""):
            await store.delete(DeleteRequest(key=key))
            await store.set(SetRequest(key=key, value=b"1", etag=etag, concurrency=first))
            with pytest.raises(ETagMismatch):
                await store.set(SetRequest(key=key, value=b"2", etag=etag, concurrency=first))
        await store.set(SetRequest(key=key, value=b"2", etag="1", concurrency=first))
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(key=key, value=b"3", etag="1", concurrency=first))
        assert await raw.hgetall(key) == {b"data": b"2", b"version": b"2"}
    finally:
        await _cleanup(raw, prefix)


# ---- TTL ----------------------------------------------------------------------------------


async def test_ttl_is_the_redis_ttl(store: RedisStateStore, raw: aredis.Redis, prefix: str) -> None:
    key = prefix + "ttl"
    try:
        await store.set(SetRequest(key=key, value=b"v", ttl_seconds=100))
        assert 98_000 < await raw.pttl(key) <= 100_000
        item = await store.get(GetRequest(key=key))
        assert item is not None
        assert item.expires_at is not None
        expected = datetime.now(UTC) + timedelta(seconds=100)
        assert abs((item.expires_at - expected).total_seconds()) < 3
        # an overwrite without TTL removes it
        await store.set(SetRequest(key=key, value=b"v2"))
        assert await raw.pttl(key) == -1
        item = await store.get(GetRequest(key=key))
        assert item is not None
        assert item.expires_at is None
        # so does a transaction upsert without TTL
        await store.set(SetRequest(key=key, value=b"v3", ttl_seconds=100))
        await store.transact([SetRequest(key=key, value=b"v4")])
        assert await raw.pttl(key) == -1
        with pytest.raises(InvalidRequest):
            await store.set(SetRequest(key=key, value=b"v", ttl_seconds=-5))
    finally:
        await _cleanup(raw, prefix)


async def test_ttl_expires(store: RedisStateStore, raw: aredis.Redis, prefix: str) -> None:
    key = prefix + "short"
    try:
        await store.set(SetRequest(key=key, value=b"v", ttl_seconds=1))
        assert await store.get(GetRequest(key=key)) is not None

        async def expired() -> bool:
            return await store.get(GetRequest(key=key)) is None

        await eventually(expired, within=3, interval=0.05)
        assert (await store.list_keys(ListKeysRequest(prefix=prefix))).keys == []
    finally:
        await _cleanup(raw, prefix)


async def test_default_ttl_from_metadata(raw: aredis.Redis, prefix: str) -> None:
    s = _store(ttlInSeconds="300")
    await s.init()
    try:
        await s.set(SetRequest(key=prefix + "default", value=b"v"))
        assert 298_000 < await raw.pttl(prefix + "default") <= 300_000
        await s.set(SetRequest(key=prefix + "own", value=b"v", ttl_seconds=50))
        assert 48_000 < await raw.pttl(prefix + "own") <= 50_000
        # ttlInSeconds -1 in the request (None for the store) means no TTL at all
        req = SetRequest(key=prefix + "never", value=b"v", metadata={"ttlInSeconds": "-1"})
        await s.set(req)
        assert await raw.pttl(prefix + "never") == -1
    finally:
        await s.close()
        await _cleanup(raw, prefix)


# ---- bulk and transactions ----------------------------------------------------------------


async def test_bulk_set_reports_failed_keys(
    store: RedisStateStore, raw: aredis.Redis, prefix: str
) -> None:
    a, b, c = prefix + "a", prefix + "b", prefix + "c"
    try:
        await store.bulk_set([SetRequest(key=a, value=b"1"), SetRequest(key=b, value=b"1")])
        with pytest.raises(BulkError) as info:
            await store.bulk_set(
                [
                    SetRequest(key=a, value=b"2", etag="1"),
                    SetRequest(key=b, value=b"2", etag="7"),
                    SetRequest(key=c, value=b"2", etag="not-a-version"),
                ]
            )
        errors = info.value.errors
        assert set(errors) == {b, c}
        assert isinstance(errors[b], ETagMismatch)
        assert isinstance(errors[c], ETagInvalid)
        assert await raw.hgetall(a) == {b"data": b"2", b"version": b"2"}
        assert await raw.hgetall(b) == {b"data": b"1", b"version": b"1"}
        items = await store.bulk_get([GetRequest(key=a), GetRequest(key=c), GetRequest(key=b)])
        assert [i.key for i in items] == [a, c, b]
        assert [i.item.value if i.item else None for i in items] == [b"2", None, b"1"]
        with pytest.raises(BulkError) as info:
            await store.bulk_delete(
                [DeleteRequest(key=a, etag="2"), DeleteRequest(key=b, etag="5")]
            )
        assert set(info.value.errors) == {b}
        assert await raw.exists(a, b) == 1
    finally:
        await _cleanup(raw, prefix)


async def test_transaction_is_atomic_and_ordered(
    store: RedisStateStore, raw: aredis.Redis, prefix: str
) -> None:
    k1, k2, k3 = prefix + "1", prefix + "2", prefix + "3"
    try:
        assert store.max_transaction_ops is None
        await store.set(SetRequest(key=k1, value=b"one"))
        # the last op fails its ETag check: nothing at all is written
        with pytest.raises(ETagMismatch) as info:
            await store.transact(
                [
                    SetRequest(key=k2, value=b"two"),
                    DeleteRequest(key=k1),
                    SetRequest(key=k3, value=b"three", etag="4"),
                ]
            )
        assert info.value.key == k3
        assert await raw.exists(k2, k3) == 0
        assert await raw.hget(k1, "version") == b"1"
        with pytest.raises(ETagInvalid):
            await store.transact([SetRequest(key=k2, value=b"x"), DeleteRequest(key=k1, etag="x")])
        assert await raw.exists(k2) == 0
        # same key several times: in order, each write bumps the version, checks see earlier ops
        await store.transact(
            [
                SetRequest(key=k1, value=b"a", etag="1"),
                SetRequest(key=k1, value=b"b", etag="2", ttl_seconds=60),
                SetRequest(key=k2, value=b"c", concurrency=Concurrency.FIRST_WRITE),
                DeleteRequest(key=k2, etag="1"),
                SetRequest(key=k3, value=b"d"),
                SetRequest(key=k3, value=b"e"),
            ]
        )
        assert await raw.hgetall(k1) == {b"data": b"b", b"version": b"3"}
        assert 0 < await raw.ttl(k1) <= 60
        assert await raw.exists(k2) == 0
        assert await raw.hgetall(k3) == {b"data": b"e", b"version": b"2"}
        await store.transact([])
    finally:
        await _cleanup(raw, prefix)


async def test_scripts_missing_on_the_server_are_loaded_again(
    store: RedisStateStore, raw: aredis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a server restart does to the script cache (NOSCRIPT), without flushing the shared
    server's cache: the store is pointed at variants of its scripts the server has never seen."""
    key = prefix + "noscript"
    marker = f"\n-- {unique()} "
    try:
        for path in ("get", "bulk_get", "set", "bulk_set", "transact"):
            get_text, apply_text = _scripts.GET + marker + path, _scripts.APPLY + marker + path
            monkeypatch.setattr(_scripts, "GET", get_text)
            monkeypatch.setattr(_scripts, "APPLY", apply_text)
            monkeypatch.setattr(store, "_get_sha", hashlib.sha1(get_text.encode()).hexdigest())
            monkeypatch.setattr(store, "_apply_sha", hashlib.sha1(apply_text.encode()).hexdigest())
            if path == "get":
                assert await store.get(GetRequest(key=key)) is None
            elif path == "bulk_get":
                items = await store.bulk_get([GetRequest(key=key), GetRequest(key=key)])
                assert [i.error for i in items] == [None, None]
            elif path == "set":
                await store.set(SetRequest(key=key, value=b"1"))
            elif path == "bulk_set":
                await store.bulk_set([SetRequest(key=key, value=b"2", etag="1")])
            else:
                await store.transact([SetRequest(key=key, value=b"3", etag="2")])
        assert await raw.hgetall(key) == {b"data": b"3", b"version": b"3"}
    finally:
        await _cleanup(raw, prefix)


async def test_concurrent_commands_share_a_batch_and_keep_their_own_replies(
    store: RedisStateStore, raw: aredis.Redis, prefix: str
) -> None:
    """Commands issued together are auto-pipelined; each caller gets its own reply or error,
    including a conditional write that fails and a caller that gave up waiting."""
    keys = [f"{prefix}batch-{i}" for i in range(40)]
    try:
        await asyncio.gather(
            *(store.set(SetRequest(key=k, value=str(i).encode())) for i, k in enumerate(keys))
        )
        stale = store.set(SetRequest(key=keys[0], value=b"x", etag="7"))
        impatient = asyncio.ensure_future(store.get(GetRequest(key=keys[1])))
        await asyncio.sleep(0)  # its command is queued (or sent), then it stops waiting
        impatient.cancel()
        results = await asyncio.gather(
            *(store.get(GetRequest(key=k)) for k in keys),
            stale,
            store.get(GetRequest(key=prefix + "missing")),
            return_exceptions=True,
        )
        items, mismatch, missing = results[:-2], results[-2], results[-1]
        values = [i.value if isinstance(i, StateItem) else i for i in items]
        assert values == [str(i).encode() for i in range(len(keys))]
        assert isinstance(mismatch, ETagMismatch)
        assert missing is None
        with pytest.raises(asyncio.CancelledError):
            await impatient
        item = await store.get(GetRequest(key=keys[1]))  # the connection is still in step
        assert item is not None
        assert item.value == b"1"
    finally:
        await _cleanup(raw, prefix)


# ---- key listing --------------------------------------------------------------------------


async def test_list_keys_pages(store: RedisStateStore, raw: aredis.Redis, prefix: str) -> None:
    names = {f"{prefix}k{i}" for i in range(230)}
    try:
        await store.bulk_set([SetRequest(key=k, value=b"v") for k in names])
        # keys of another prefix that share its start are not listed
        await store.set(SetRequest(key=prefix[:-2] + "-other||k", value=b"v"))
        seen: list[str] = []
        token: str | None = None
        pages = 0
        while True:
            page = await store.list_keys(ListKeysRequest(prefix=prefix, limit=9, token=token))
            pages += 1
            assert len(page.keys) <= 9
            assert len(set(page.keys)) == len(page.keys)
            if page.token is not None:
                assert len(page.keys) == 9  # pages are full until the end
            seen.extend(page.keys)
            token = page.token
            if token is None:
                break
            assert pages < 200
        assert set(seen) == names  # at least once each (SCAN may repeat a key across pages)
        everything = await store.list_keys(ListKeysRequest(prefix=prefix, limit=1000))
        assert set(everything.keys) == names
        assert everything.token is None
    finally:
        await _cleanup(raw, prefix)
        await _cleanup(raw, prefix[:-2] + "-other||")


async def test_list_keys_escapes_glob_characters(
    store: RedisStateStore, raw: aredis.Redis, prefix: str
) -> None:
    base = prefix + "a*b?[c]\\"
    wanted = {base + "1", base + "2"}
    decoys = {prefix + "aXbY[c]\\1", prefix + "a*b?c\\1", prefix + "a*bZ[c]\\1"}
    try:
        await store.bulk_set([SetRequest(key=k, value=b"v") for k in wanted | decoys])
        page = await store.list_keys(ListKeysRequest(prefix=base))
        assert set(page.keys) == wanted
        assert page.token is None
    finally:
        await _cleanup(raw, prefix)


async def test_list_keys_rejects_bad_requests(store: RedisStateStore, prefix: str) -> None:
    with pytest.raises(InvalidRequest):
        await store.list_keys(ListKeysRequest(prefix=prefix, limit=0))
    for token in ("nope", "-3", "5.%%%", "5.bm90LWpzb24"):
        with pytest.raises(InvalidRequest):
            await store.list_keys(ListKeysRequest(prefix=prefix, token=token))


# ---- metadata and lifecycle ---------------------------------------------------------------


def test_metadata_defaults_and_names() -> None:
    md = RedisStateMetadata.model_validate({})
    assert md.address == ("localhost", 6379)
    assert (md.redis_db, md.enable_tls, md.pool_size, md.max_retries) == (0, False, 0, 3)
    assert (md.dial_timeout, md.read_timeout, md.write_timeout) == (5.0, 5.0, 5.0)
    assert md.default_ttl is None
    md = RedisStateMetadata.model_validate(
        {
            "REDISHOST": "[::1]:6380",
            "redisdb": "3",
            "EnableTLS": "true",
            "readTimeout": "1500ms",
            "writeTimeout": "2s",
            "dialTimeout": "1m",
            "ttlInSeconds": "60",
            "redisPassword": "secret",
            "redisUsername": "",
            "queryIndexes": '[{"name":"idx"}]',
        }
    )
    assert md.address == ("::1", 6380)
    assert (md.redis_db, md.enable_tls, md.dial_timeout) == (3, True, 60.0)
    assert (md.operation_timeout, md.write_timeout) == (1.5, 2.0)
    assert md.default_ttl == 60
    assert md.redis_username is None
    assert "secret" not in repr(md)
    assert RedisStateMetadata.model_validate({"redisHost": "cache"}).address == ("cache", 6379)
    assert RedisStateMetadata.model_validate({"ttlInSeconds": "-1"}).default_ttl is None


@pytest.mark.parametrize(
    "metadata",
    [
        {"redisDB": "first"},
        {"redisDB": "-1"},
        {"redisDB": "1.5"},
        {"redisHost": "a:b:c"},
        {"redisHost": "host:99999"},
        {"redisHost": "host:port"},
        {"readTimeout": "soon"},
        {"dialTimeout": "0s"},
        {"enableTLS": "maybe"},
        {"maxRetries": "-2"},
        {"poolSize": "-1"},
        {"ttlInSeconds": "ten"},
    ],
)
def test_metadata_errors(metadata: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        RedisStateMetadata.model_validate(metadata)


async def test_lifecycle_and_catalog() -> None:
    entry = next(e for e in CATALOG if e.type == "state.redis")
    assert entry.target == "components.state.redis:RedisStateStore"
    assert RedisStateStore.info.type == "state.redis"
    assert RedisStateStore.Metadata is RedisStateMetadata
    s = _store()
    assert s.features() == frozenset(
        {StateFeature.ETAG, StateFeature.TRANSACTIONAL, StateFeature.TTL, StateFeature.LIST_KEYS}
    )
    assert not hasattr(s, "query")
    assert isinstance(s, TransactionalStateStore)
    assert isinstance(s, KeyLister)
    assert not isinstance(s, QueryableStateStore)
    await s.close()  # never initialised: fine
    with pytest.raises(RuntimeError, match="not initialized"):
        await s.get(GetRequest(key="k"))
    require_server("redis")
    await s.init()
    await s.init()  # already initialised: no-op
    await s.close()
    await s.close()
    with pytest.raises(RuntimeError, match="not initialized"):
        await s.set(SetRequest(key="k", value=b"v"))


async def test_init_failure_names_the_server() -> None:
    s = _store(redisHost="127.0.0.1:1", dialTimeout="1s", readTimeout="1s")
    async with asyncio.timeout(60):  # a hang detector; the outcome is the error
        with pytest.raises(ConnectionError, match=r"127\.0\.0\.1:1"):
            await s.init()
    await s.close()


async def test_tls_against_a_plain_server_fails_init_promptly() -> None:
    require_server("redis")
    s = _store(enableTLS="true", dialTimeout="1s", readTimeout="1s")
    async with asyncio.timeout(60):  # a hang detector; the outcome is the error
        with pytest.raises(ConnectionError, match="cannot use redis at"):
            await s.init()
    await s.close()


async def test_bounded_pool_queues_callers(raw: aredis.Redis, prefix: str) -> None:
    s = _store(poolSize="2")
    await s.init()
    try:
        keys = [f"{prefix}{i}" for i in range(40)]
        await asyncio.gather(*(s.set(SetRequest(key=k, value=k.encode())) for k in keys))
        items = await asyncio.gather(*(s.get(GetRequest(key=k)) for k in keys))
        assert [i.value if i else None for i in items] == [k.encode() for k in keys]
    finally:
        await s.close()
        await _cleanup(raw, prefix)


# ---- fault injection: a server that stops answering ----------------------------------------


async def _served(s: RedisStateStore, req: GetRequest) -> StateItem | None:
    """The store's answer to ``req`` once it serves again (polled: a deadline, not a speed;
    how soon it serves again is measured by ``bench/outage.py``)."""
    answers: list[StateItem | None] = []

    async def serves() -> bool:
        try:
            answers.append(await s.get(req))
        except Exception:
            return False
        return True

    await eventually(serves, within=30, interval=0.02)
    return answers[-1]


class _Proxy:
    """TCP proxy to the real server that can go mute: it then swallows every byte, as a server
    behind a network partition would (connections stay open, nothing comes back)."""

    def __init__(self) -> None:
        self.mute = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, _, port = REDIS_URL.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                if not self.mute:
                    dst.write(data)
                    await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def test_unresponsive_server_fails_within_the_timeout(prefix: str) -> None:
    require_server("redis")
    proxy = _Proxy()
    port = await proxy.start()
    s = _store(redisHost=f"127.0.0.1:{port}", readTimeout="500ms", dialTimeout="500ms")
    key = prefix + "mute"
    try:
        await s.init()
        await s.set(SetRequest(key=key, value=b"v"))
        proxy.mute = True
        ops: list[Callable[[], Awaitable[object]]] = [
            lambda: s.get(GetRequest(key=key)),
            lambda: s.set(SetRequest(key=key, value=b"w")),
            lambda: s.bulk_get([GetRequest(key=key)]),
            lambda: s.list_keys(ListKeysRequest(prefix=prefix)),
        ]
        for op in ops:
            # a muted server never answers: the store's own timeout must end the call (the
            # deadline would cancel it, which pytest.raises(Exception) does not catch)
            async with asyncio.timeout(60):
                with pytest.raises(Exception):  # noqa: B017, PT011 (any error, as long as it comes)
                    await op()
        proxy.mute = False
        assert await _served(s, GetRequest(key=key)) is not None
        await s.delete(DeleteRequest(key=key))
    finally:
        await s.close()
        await proxy.stop()


# ---- fault injection: a server restart (a private redis-server: the shared one is never stopped)


async def test_survives_a_server_restart(prefix: str, tmp_path: Path) -> None:
    """Killed and started again (empty): a call meanwhile fails, then the same instance serves
    again, every script path included (the restart emptied the script cache)."""
    server = private_redis(tmp_path / "redis")
    s = _store(redisHost=f"127.0.0.1:{server.port}", readTimeout="2s", dialTimeout="1s")
    key = prefix + "restart"
    with server:
        await s.init()
        try:
            await s.set(SetRequest(key=key, value=b"before"))
            assert await s.get(GetRequest(key=key)) is not None
            server.stop()
            async with asyncio.timeout(60):  # a hang detector; the outcome is the error
                with pytest.raises(Exception):  # noqa: B017, PT011 (any error, as long as it comes)
                    await s.get(GetRequest(key=key))
            server.start()
            assert await _served(s, GetRequest(key=key)) is None  # nothing on disk: data gone
            await s.set(SetRequest(key=key, value=b"after"))
            await s.transact([SetRequest(key=key, value=b"again", etag="1")])
            items = await s.bulk_get([GetRequest(key=key)])
            assert items[0].item is not None
            assert items[0].item.etag == "2"
        finally:
            await s.close()
