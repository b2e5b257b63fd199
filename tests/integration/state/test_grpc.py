"""The state API over gRPC (Dapr's ``Dapr`` service and Tandem's ``Tandem`` service).

Twin of ``test_http.py``: the same test names (``test_twins`` checks it), the same behaviours,
through Tandem's generated stubs (``protos.dapr.runtime.v1`` / ``protos.tandem.v1``) on a sync
channel. gRPC values are raw bytes, stored and returned unchanged.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from protos.dapr.runtime.v1 import metadata_pb2, state_pb2
from tests.integration.harness import wait_until
from tests.integration.state._grpc import (
    EVENTUAL,
    FIRST_WRITE,
    LAST_WRITE,
    STRONG,
    Grpc,
    RpcFailure,
    decode,
    fail,
    item,
    op,
)
from tests.integration.state._support import (
    EXPECTED_FEATURES,
    MAX_BODY,
    StateEnv,
    parse_rfc3339,
    query_cases,
    query_rows,
)

pytestmark = pytest.mark.integration

BINARY = b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"  # a protobuf int32 -1: not UTF-8
JSON_VALUE = b'{"b":1,  "a":[1.0, 2e3]}'
INVALID = grpc.StatusCode.INVALID_ARGUMENT
ABORTED = grpc.StatusCode.ABORTED


@pytest.fixture(scope="module")
def rpc(env: StateEnv) -> Iterator[Grpc]:
    client = Grpc(env.grpc_target)
    yield client
    client.close()


def _exists(rpc: Grpc, store: str, key: str) -> bool:
    return bool(rpc.get(store, key).etag)


def _code(call: Any) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as err:
        return decode(err).code
    return grpc.StatusCode.OK


def _etag(rpc: Grpc, env: StateEnv, key: str) -> str:
    etag = rpc.get(env.store, key).etag
    assert etag
    return etag


def _well_formed_stale_etag(env: StateEnv) -> str:
    """An ETag of the store's own form that no item has."""
    if env.kind in ("sqlite", "postgresql"):
        return str(uuid.uuid4())
    return "987654321"


def _assert_error(
    f: RpcFailure, code: grpc.StatusCode, error_code: str, reason: str | None = None
) -> None:
    assert f.code == code, f
    assert f.error_code == error_code, f
    assert f.domain == "dapr.io", f
    assert f.reason == (reason or error_code), f


# ---- CRUD ----------------------------------------------------------------------------------


def test_save_get_roundtrip_exact_bytes(env: StateEnv, rpc: Grpc) -> None:
    k1, k2, k3 = env.key(), env.key(), env.key()
    rpc.save(env.store, item(k1, BINARY), item(k2, JSON_VALUE), item(k3, b""))
    got = rpc.get(env.store, k1)
    assert got.data == BINARY
    assert got.etag
    assert rpc.get(env.store, k2).data == JSON_VALUE
    empty = rpc.get(env.store, k3)
    assert empty.data == b""
    assert empty.etag  # present, just empty
    # what gRPC stored reads back byte for byte over HTTP too
    assert env.http.get(env.store, k1).body == BINARY


def test_missing_key_is_empty(env: StateEnv, rpc: Grpc) -> None:
    got = rpc.get(env.store, env.key("missing"))
    assert got == state_pb2.GetStateResponse()


def test_overwrite_and_delete(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    rpc.save(env.store, item(k, b"1"))
    rpc.save(env.store, item(k, b"2"))
    assert rpc.get(env.store, k).data == b"2"
    rpc.delete(env.store, k)
    assert not _exists(rpc, env.store, k)
    rpc.delete(env.store, k)  # deleting a missing key is not an error


def test_special_keys_roundtrip(env: StateEnv, rpc: Grpc) -> None:
    tag = uuid.uuid4().hex[:8]
    keys = [
        f"with space {tag}",
        f"slash/and/more/{tag}",
        f"ünïcødé-{tag}",
        f"dapr' OR '1'='1 {tag}",
        f"DROP TABLE state; {tag}",
        f"100%_like\\{tag}",
    ]
    rpc.save(env.store, *(item(k, str(i).encode()) for i, k in enumerate(keys)))
    for i, k in enumerate(keys):
        assert rpc.get(env.store, k).data == str(i).encode(), k
    for k in keys:
        rpc.delete(env.store, k)
        assert not _exists(rpc, env.store, k)
    # a NUL character: refused as bad input on every store (PostgreSQL cannot keep it)
    nul = f"nul\x00{tag}"
    for call in (
        lambda: rpc.save(env.store, item(nul, b"1")),
        lambda: rpc.save(env.store, item(nul, b"1"), item(nul + "2", b"2")),
        lambda: rpc.transact(env.store, op("upsert", item(nul, b"1"))),
        lambda: rpc.get(env.store, nul),
    ):
        assert _code(call) == INVALID


# ---- ETags and concurrency -----------------------------------------------------------------


def test_etag_update_and_mismatch(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    rpc.save(env.store, item(k, b"v1"))
    e1 = _etag(rpc, env, k)
    rpc.save(env.store, item(k, b"v2", etag=e1))
    e2 = _etag(rpc, env, k)
    assert e2 != e1
    f = fail(rpc.save, env.store, item(k, b"v3", etag=e1))
    _assert_error(f, ABORTED, "ERR_STATE_SAVE")
    got = rpc.get(env.store, k)
    assert (got.data, got.etag) == (b"v2", e2)
    f = fail(rpc.save, env.store, item(env.key(), b"x", etag=e2))
    _assert_error(f, ABORTED, "ERR_STATE_SAVE")


def test_delete_with_etag(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    rpc.save(env.store, item(k, b"v1"))
    e1 = _etag(rpc, env, k)
    rpc.save(env.store, item(k, b"v2"))
    _assert_error(fail(rpc.delete, env.store, k, e1), ABORTED, "ERR_STATE_DELETE")
    assert _exists(rpc, env.store, k)
    rpc.delete(env.store, k, _etag(rpc, env, k))
    assert not _exists(rpc, env.store, k)


def test_invalid_etag(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    rpc.save(env.store, item(k, b"v1"))
    f = fail(rpc.save, env.store, item(k, b"v2", etag="not an etag!"))
    _assert_error(f, INVALID, "ERR_STATE_SAVE")
    _assert_error(fail(rpc.delete, env.store, k, "not an etag!"), INVALID, "ERR_STATE_DELETE")
    assert rpc.get(env.store, k).data == b"v1"


def test_empty_etag_means_none(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    rpc.save(env.store, item(k, b"v1", etag=""))  # Etag message present, value empty
    rpc.save(env.store, item(k, b"v2", etag=""))
    assert rpc.get(env.store, k).data == b"v2"
    rpc.delete(env.store, k, "")
    assert not _exists(rpc, env.store, k)


def test_first_write(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    rpc.save(env.store, item(k, b"one", concurrency=FIRST_WRITE, consistency=STRONG))
    f = fail(rpc.save, env.store, item(k, b"two", concurrency=FIRST_WRITE, consistency=STRONG))
    _assert_error(f, ABORTED, "ERR_STATE_SAVE")
    assert rpc.get(env.store, k).data == b"one"
    e1 = _etag(rpc, env, k)
    rpc.save(env.store, item(k, b"three", etag=e1, concurrency=FIRST_WRITE))
    f = fail(rpc.save, env.store, item(k, b"four", etag=e1, concurrency=FIRST_WRITE))
    _assert_error(f, ABORTED, "ERR_STATE_SAVE")
    assert rpc.get(env.store, k).data == b"three"
    # first-write on delete: an ETag is what makes it conditional
    f = fail(rpc.delete, env.store, k, e1, FIRST_WRITE)
    _assert_error(f, ABORTED, "ERR_STATE_DELETE")


def test_options_last_write_and_consistency(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    rpc.save(env.store, item(k, b"eventual", concurrency=LAST_WRITE, consistency=EVENTUAL))
    rpc.save(env.store, item(k, b"strong", concurrency=LAST_WRITE, consistency=STRONG))
    got = rpc.dapr.GetState(
        state_pb2.GetStateRequest(store_name=env.store, key=k, consistency=STRONG)
    )
    assert got.data == b"strong"
    # an enum value the proto does not define is ignored, as Dapr does (the default applies)
    rpc.save(env.store, item(k, b"x", concurrency=7, consistency=9))
    assert rpc.get(env.store, k).data == b"x"


def test_bulk_save_is_per_item(env: StateEnv, rpc: Grpc) -> None:
    k1, k2, k3 = env.key(), env.key(), env.key()
    rpc.save(env.store, item(k1, b"first"), item(k2, b"first"))
    e1 = _etag(rpc, env, k1)
    f = fail(
        rpc.save,
        env.store,
        item(k1, b"second", etag=_well_formed_stale_etag(env)),
        item(k2, b"second", etag=_etag(rpc, env, k2)),
        item(k3, b"second"),
    )
    _assert_error(f, ABORTED, "ERR_STATE_SAVE")
    got = rpc.get(env.store, k1)
    assert (got.data, got.etag) == (b"first", e1)
    assert rpc.get(env.store, k2).data == b"second"
    assert rpc.get(env.store, k3).data == b"second"
    # the same key several times in one request: applied in order, the last value stays
    rpc.save(env.store, *(item(k3, str(i).encode()) for i in range(20)))
    assert rpc.get(env.store, k3).data == b"19"


def _race(n: int, fn: Any) -> list[Any]:
    """Run ``fn(i)`` in ``n`` threads released together; their results in order."""
    barrier = threading.Barrier(n)

    def go(i: int) -> Any:
        barrier.wait(timeout=10)
        try:
            fn(i)
        except grpc.RpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_concurrent_writers_one_wins(env: StateEnv, rpc: Grpc) -> None:
    """Racing first-writes of a new key, and racing writes with the same ETag: one winner."""
    n = 12
    k = env.key()
    ok, aborted = grpc.StatusCode.OK, grpc.StatusCode.ABORTED
    codes = _race(
        n, lambda i: rpc.save(env.store, item(k, str(i).encode(), concurrency=FIRST_WRITE))
    )
    assert sorted(codes, key=str) == sorted([ok] + [aborted] * (n - 1), key=str)
    assert rpc.get(env.store, k).data == str(codes.index(ok)).encode()
    etag = _etag(rpc, env, k)
    codes = _race(n, lambda i: rpc.save(env.store, item(k, str(-i).encode(), etag=etag)))
    assert sorted(codes, key=str) == sorted([ok] + [aborted] * (n - 1), key=str)
    assert rpc.get(env.store, k).data == str(-codes.index(ok)).encode()


# ---- bulk get / delete ---------------------------------------------------------------------


def test_bulk_get(env: StateEnv, rpc: Grpc) -> None:
    k1, k2, missing = env.key(), env.key(), env.key("missing")
    rpc.save(env.store, item(k1, BINARY), item(k2, b"two"))
    items = rpc.bulk(env.store, [k1, missing, k2])
    assert [i.key for i in items] == [k1, missing, k2]
    assert items[0].data == BINARY
    assert items[2].data == b"two"
    assert items[0].etag == _etag(rpc, env, k1)
    assert items[2].etag == _etag(rpc, env, k2)
    assert (items[1].data, items[1].etag, items[1].error) == (b"", "", "")
    assert not any(i.error for i in items)
    assert rpc.bulk(env.store, []) == []
    items = rpc.bulk(env.store, [k2, missing, k2, missing])
    assert [(i.key, i.data) for i in items] == [(k2, b"two"), (missing, b"")] * 2


def test_bulk_delete(env: StateEnv, rpc: Grpc) -> None:
    keys = [env.key() for _ in range(4)]
    rpc.save(env.store, *(item(k, b"1") for k in keys))
    stale = _etag(rpc, env, keys[2])
    rpc.save(env.store, item(keys[2], b"2"))
    rpc.bulk_delete(env.store, item(keys[0]), item(keys[1], etag=_etag(rpc, env, keys[1])))
    assert [_exists(rpc, env.store, k) for k in keys] == [False, False, True, True]
    # not atomic, as Dapr's: the stale item fails, the good one is still deleted
    f = fail(rpc.bulk_delete, env.store, item(keys[2], etag=stale), item(keys[3]))
    _assert_error(f, ABORTED, "ERR_STATE_DELETE")
    assert [_exists(rpc, env.store, k) for k in keys] == [False, False, True, False]


# ---- transactions --------------------------------------------------------------------------


def test_transaction_in_order(env: StateEnv, rpc: Grpc) -> None:
    k1, k2, k3, k4 = (env.key() for _ in range(4))
    rpc.save(env.store, item(k1, b"value1"))
    rpc.transact(
        env.store,
        op("delete", item(k1)),
        op("upsert", item(k2, b"value2")),
        op("delete", item(k2)),
        op("upsert", item(k3, b"value3")),
        op("upsert", item(k4, b"a")),
        op("upsert", item(k4, BINARY)),
        op("delete", item(env.key("never-written"))),
    )
    assert not _exists(rpc, env.store, k1)
    assert not _exists(rpc, env.store, k2)
    assert rpc.get(env.store, k3).data == b"value3"
    assert rpc.get(env.store, k4).data == BINARY
    rpc.transact(env.store)


def test_transaction_atomic_on_etag_mismatch(env: StateEnv, rpc: Grpc) -> None:
    k1, k2 = env.key(), env.key()
    rpc.save(env.store, item(k2, b"old"))
    stale = _well_formed_stale_etag(env)
    f = fail(
        rpc.transact,
        env.store,
        op("upsert", item(k1, b"new")),
        op("upsert", item(k2, b"new", etag=stale)),
    )
    _assert_error(f, ABORTED, "ERR_STATE_TRANSACTION")
    assert not _exists(rpc, env.store, k1)
    assert rpc.get(env.store, k2).data == b"old"
    f = fail(
        rpc.transact,
        env.store,
        op("upsert", item(k1, b"new")),
        op("delete", item(k2, etag=stale)),
    )
    _assert_error(f, ABORTED, "ERR_STATE_TRANSACTION")
    assert not _exists(rpc, env.store, k1)
    assert _exists(rpc, env.store, k2)


def test_transaction_invalid_etag(env: StateEnv, rpc: Grpc) -> None:
    k1, k2 = env.key(), env.key()
    f = fail(
        rpc.transact,
        env.store,
        op("upsert", item(k1, b"1")),
        op("upsert", item(k2, b"2", etag="not an etag!")),
    )
    _assert_error(f, INVALID, "ERR_STATE_TRANSACTION")
    assert not _exists(rpc, env.store, k1)
    assert not _exists(rpc, env.store, k2)


def test_transaction_unknown_operation(env: StateEnv, rpc: Grpc) -> None:
    k1, k2 = env.key(), env.key()
    f = fail(rpc.transact, env.store, op("upsert", item(k1, b"1")), op("merge", item(k2, b"2")))
    # Dapr: HTTP 400, gRPC Unimplemented
    _assert_error(f, grpc.StatusCode.UNIMPLEMENTED, "ERR_NOT_SUPPORTED_STATE_OPERATION")
    assert not _exists(rpc, env.store, k1)
    assert not _exists(rpc, env.store, k2)


def test_transaction_metadata_ttl(env: StateEnv, rpc: Grpc) -> None:
    k1, k2 = env.key(), env.key()
    rpc.transact(
        env.store,
        op("upsert", item(k1, b"1")),
        op("upsert", item(k2, b"2", metadata={"ttlInSeconds": "-1"})),
        metadata={"ttlInSeconds": "100"},
    )
    assert "ttlExpireTime" in rpc.get(env.store, k1).metadata
    assert "ttlExpireTime" not in rpc.get(env.store, k2).metadata


# ---- TTL -----------------------------------------------------------------------------------


def test_ttl_expire_time(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    before = datetime.now(UTC)
    rpc.save(env.store, item(k, b"v", metadata={"ttlInSeconds": "100"}))
    got = rpc.get(env.store, k)
    expires = parse_rfc3339(got.metadata["ttlExpireTime"])
    assert before + timedelta(seconds=98) <= expires <= datetime.now(UTC) + timedelta(seconds=101)
    (bulk,) = rpc.bulk(env.store, [k])
    assert bulk.metadata["ttlExpireTime"] == got.metadata["ttlExpireTime"]


def test_ttl_expiry(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    rpc.save(env.store, item(k, b"short-lived", metadata={"ttlInSeconds": "1"}))
    assert _exists(rpc, env.store, k)
    assert wait_until(lambda: not _exists(rpc, env.store, k), timeout=5.0), "key did not expire"
    (bulk,) = rpc.bulk(env.store, [k])
    assert (bulk.data, bulk.etag) == (b"", "")
    # an expired key counts as absent: first-write succeeds
    rpc.save(env.store, item(k, b"again", concurrency=FIRST_WRITE))
    assert rpc.get(env.store, k).data == b"again"


def test_ttl_cleared(env: StateEnv, rpc: Grpc) -> None:
    """-1 clears a TTL, and so do 0 and an overwrite without TTL."""
    cleared, zero, overwritten, clock = env.key(), env.key(), env.key(), env.key("clock")
    start = time.monotonic()
    rpc.save(
        env.store,
        *(item(k, b"v", metadata={"ttlInSeconds": "1"}) for k in (cleared, zero, overwritten)),
    )
    rpc.save(env.store, item(clock, b"v", metadata={"ttlInSeconds": "1"}))
    rpc.save(env.store, item(cleared, b"v", metadata={"ttlInSeconds": "-1"}))
    rpc.save(env.store, item(zero, b"v", metadata={"ttlInSeconds": "0"}))
    rpc.save(env.store, item(overwritten, b"v"))
    for k in (cleared, zero, overwritten):
        assert "ttlExpireTime" not in rpc.get(env.store, k).metadata
    # once the clock key (same TTL, written at the same time) is gone, the others would be too
    assert wait_until(lambda: not _exists(rpc, env.store, clock), timeout=5.0)
    assert time.monotonic() - start >= 0.9
    assert all(_exists(rpc, env.store, k) for k in (cleared, zero, overwritten))


@pytest.mark.parametrize("ttl", ["foo", "1.5", "", "-2"])
def test_ttl_invalid(env: StateEnv, rpc: Grpc, ttl: str) -> None:
    k1, k2 = env.key(), env.key()
    f = fail(rpc.save, env.store, item(k1, b"1"), item(k2, b"2", metadata={"ttlInSeconds": ttl}))
    _assert_error(f, INVALID, "ERR_STATE_SAVE")
    assert not _exists(rpc, env.store, k1)
    assert not _exists(rpc, env.store, k2)


# ---- query ---------------------------------------------------------------------------------


def _seed_query(env: StateEnv, rpc: Grpc, n: int = 5) -> str:
    tag, rows = query_rows(n)
    rpc.save(env.store, *(item(k, json.dumps(v).encode()) for k, v in rows))
    return tag


def _query(rpc: Grpc, env: StateEnv, body: dict[str, Any]) -> state_pb2.QueryStateResponse:
    return rpc.query(env.store, json.dumps(body))


def test_query(env: StateEnv, rpc: Grpc) -> None:
    if not env.has("QUERY_API"):
        f = fail(rpc.query, env.store, json.dumps({"filter": {"EQ": {"a": 1}}}))
        _assert_error(  # Dapr pairs "querying not supported" with Internal
            f,
            grpc.StatusCode.INTERNAL,
            "ERR_STATE_STORE_NOT_SUPPORTED",
            "DAPR_STATE_QUERYING_NOT_SUPPORTED",
        )
        return
    tag = _seed_query(env, rpc)

    def ns(body: dict[str, Any]) -> list[int]:
        return [json.loads(r.data)["n"] for r in _query(rpc, env, body).results]

    for body, expected in query_cases(tag):
        assert ns(body) == expected, body
    eq_tag = {"EQ": {"tag": tag}}
    first = _query(rpc, env, {"filter": eq_tag, "sort": [{"key": "n"}]}).results[0]
    assert first.key.startswith("q0-")
    assert "||" not in first.key
    assert first.etag


def test_query_no_results(env: StateEnv, rpc: Grpc) -> None:
    if not env.has("QUERY_API"):
        pytest.skip(f"{env.kind} does not declare QUERY_API")
    resp = _query(rpc, env, {"filter": {"EQ": {"tag": uuid.uuid4().hex}}})
    assert list(resp.results) == []
    assert resp.token == ""


def test_query_paging(env: StateEnv, rpc: Grpc) -> None:
    if not env.has("QUERY_API"):
        pytest.skip(f"{env.kind} does not declare QUERY_API")
    tag = _seed_query(env, rpc, 5)
    seen: list[int] = []
    token = ""
    for _ in range(10):
        page: dict[str, Any] = {"limit": 2}
        if token:
            page["token"] = token
        resp = _query(
            rpc, env, {"filter": {"EQ": {"tag": tag}}, "sort": [{"key": "n"}], "page": page}
        )
        assert len(resp.results) <= 2
        seen += [json.loads(r.data)["n"] for r in resp.results]
        token = resp.token
        if not token:
            break
    assert seen == [0, 1, 2, 3, 4]


def test_query_malformed(env: StateEnv, rpc: Grpc) -> None:
    if not env.has("QUERY_API"):
        pytest.skip(f"{env.kind} does not declare QUERY_API")
    for body in ("{not json", '{"filter": {"LIKE": {"a": 1}}}', '{"page": {"limit": -1}}'):
        f = fail(rpc.query, env.store, body)
        _assert_error(f, INVALID, "ERR_STATE_QUERY", "DAPR_STATE_QUERY_FAILED")


# ---- key listing (Tandem extension) --------------------------------------------------------


def test_list_keys(env: StateEnv, rpc: Grpc) -> None:
    if not env.has("LIST_KEYS"):
        f = fail(rpc.list_keys, env.store)
        _assert_error(f, grpc.StatusCode.UNIMPLEMENTED, "ERR_STATE_STORE_NOT_SUPPORTED")
        return
    prefix = f"lk-{uuid.uuid4().hex[:8]}-"
    keys = {f"{prefix}{i:02d}" for i in range(7)}
    other = env.key("lk-other")
    rpc.save(env.store, *(item(k, b"1") for k in [*keys, other]))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        resp = rpc.list_keys(env.store, prefix=prefix, limit=3, token=token)
        assert len(resp.keys) <= 3
        seen += resp.keys
        pages += 1
        token = resp.token
        if not token:
            break
        assert pages < 20
    assert len(seen) == len(set(seen)), "a key was listed twice"
    assert set(seen) == keys
    assert pages >= 3
    assert other not in seen
    # prefix characters special to LIKE or glob patterns are literal
    tag = uuid.uuid4().hex[:8]
    special = f"w%_*?[{tag}]"
    wanted = {special + "1", special + "2"}
    decoys = {f"wxy*?[{tag}]1", f"w%_{tag}X{tag[0]}"}  # LIKE / glob would match these
    rpc.save(env.store, *(item(k, b"1") for k in wanted | decoys))
    assert set(rpc.list_keys(env.store, prefix=special, limit=100).keys) == wanted
    # writes between pages: a token stays valid, every key present throughout is listed once
    prefix = f"lm-{uuid.uuid4().hex[:8]}-"
    stable = {f"{prefix}{i:02d}" for i in range(0, 10, 2)}
    rpc.save(env.store, *(item(k, b"1") for k in stable))
    page = rpc.list_keys(env.store, prefix=prefix, limit=2)
    seen = list(page.keys)
    rpc.save(env.store, *(item(f"{prefix}{i:02d}", b"1") for i in (1, 5, 11)))
    while page.token:
        page = rpc.list_keys(env.store, prefix=prefix, limit=2, token=page.token)
        seen += page.keys
    assert len(seen) == len(set(seen))
    assert stable <= set(seen)


def test_list_keys_bad_limit(env: StateEnv, rpc: Grpc) -> None:
    if not env.has("LIST_KEYS"):
        pytest.skip(f"{env.kind} does not declare LIST_KEYS")
    for limit in (-1, 100000):
        f = fail(rpc.list_keys, env.store, limit=limit)
        _assert_error(f, INVALID, "ERR_MALFORMED_REQUEST")
    f = fail(rpc.list_keys, env.store, prefix="a||b")
    _assert_error(f, INVALID, "ERR_MALFORMED_REQUEST", "DAPR_STATE_ILLEGAL_KEY")


def test_capabilities_in_metadata(env: StateEnv, rpc: Grpc) -> None:
    resp: metadata_pb2.GetMetadataResponse = rpc.dapr.GetMetadata(metadata_pb2.GetMetadataRequest())
    caps = {c.name: set(c.capabilities) for c in resp.registered_components}
    assert caps[env.store] == EXPECTED_FEATURES[env.kind]


# ---- key prefixes --------------------------------------------------------------------------


def _stored_as(env: StateEnv, rpc: Grpc, store: str, key: str, expected: str) -> None:
    rpc.save(store, item(key, BINARY + key.encode()))
    assert env.backend.stored_keys(key) == {expected}
    assert env.backend.raw_value(expected) == BINARY + key.encode()
    assert rpc.get(store, key).data == BINARY + key.encode()


def test_key_prefix_default_appid(env: StateEnv, rpc: Grpc) -> None:
    if not env.backend.direct:
        pytest.skip(f"{env.kind} keeps its data in the sidecar: stored keys are not observable")
    k = f"{env.app_id}-{env.key()}"
    _stored_as(env, rpc, env.store, k, f"{env.app_id}||{k}")


def test_key_prefix_variants(env: StateEnv, rpc: Grpc) -> None:
    if not env.backend.direct:
        pytest.skip(f"{env.kind} keeps its data in the sidecar: stored keys are not observable")
    v = env.variants
    k = f"{env.app_id}-{env.key()}"
    _stored_as(env, rpc, v["none"], k + "-none", k + "-none")
    _stored_as(env, rpc, v["name"], k + "-name", f"{v['name']}||{k}-name")
    _stored_as(env, rpc, v["custom"], k + "-custom", f"{env.custom_prefix.lower()}||{k}-custom")
    _stored_as(
        env, rpc, v["namespace"], k + "-ns", f"{env.app_id}||{k}-ns"
    )  # NAMESPACE unset: as appid
    rpc.save(env.store, item(k, b"appid"))
    assert not _exists(rpc, v["none"], k)
    f = fail(rpc.get, v["none"], f"{env.app_id}||{k}")
    _assert_error(f, INVALID, "ERR_MALFORMED_REQUEST", "DAPR_STATE_ILLEGAL_KEY")


# ---- bad input -----------------------------------------------------------------------------


def test_illegal_key(env: StateEnv, rpc: Grpc) -> None:
    good = env.key()
    illegal = ("ERR_MALFORMED_REQUEST", "DAPR_STATE_ILLEGAL_KEY")
    _assert_error(
        fail(rpc.save, env.store, item(good, b"1"), item("a||b", b"1")), INVALID, *illegal
    )
    assert not _exists(rpc, env.store, good)
    _assert_error(fail(rpc.get, env.store, "a||b"), INVALID, *illegal)
    _assert_error(fail(rpc.delete, env.store, "a||b"), INVALID, *illegal)
    _assert_error(fail(rpc.bulk, env.store, [good, "a||b"]), INVALID, *illegal)
    _assert_error(fail(rpc.bulk_delete, env.store, item("a||b")), INVALID, *illegal)
    f = fail(rpc.transact, env.store, op("upsert", item(good, b"1")), op("delete", item("a||b")))
    _assert_error(f, INVALID, *illegal)
    assert not _exists(rpc, env.store, good)


def test_unknown_store(env: StateEnv, rpc: Grpc) -> None:
    missing = "no-such-store"
    k = env.key()
    for f in (
        fail(rpc.save, missing, item(k, b"1")),
        fail(rpc.get, missing, k),
        fail(rpc.delete, missing, k),
        fail(rpc.bulk, missing, [k]),
        fail(rpc.bulk_delete, missing, item(k)),
        fail(rpc.transact, missing, op("upsert", item(k, b"1"))),
        fail(rpc.query, missing, "{}"),
        fail(rpc.list_keys, missing),
    ):
        _assert_error(f, INVALID, "ERR_STATE_STORE_NOT_FOUND", "DAPR_STATE_NOT_FOUND")
        assert f.metadata["appID"] == env.app_id


def test_missing_key_field(env: StateEnv, rpc: Grpc) -> None:
    good = env.key()
    f = fail(rpc.save, env.store, item(good, b"1"), item("", b"1"))
    _assert_error(f, INVALID, "ERR_MALFORMED_REQUEST")
    assert not _exists(rpc, env.store, good)
    _assert_error(fail(rpc.get, env.store, ""), INVALID, "ERR_MALFORMED_REQUEST")
    _assert_error(fail(rpc.delete, env.store, ""), INVALID, "ERR_MALFORMED_REQUEST")


def test_malformed_body(env: StateEnv, rpc: Grpc) -> None:
    """Bytes that are no SaveStateRequest: the call fails, nothing is written, all still serve."""
    good = env.key()
    valid = state_pb2.SaveStateRequest(store_name=env.store, states=[item(good, b"1")])
    raw = rpc.channel.unary_unary(
        "/dapr.proto.runtime.v1.Dapr/SaveState",
        request_serializer=None,
        response_deserializer=empty_pb2.Empty.FromString,
    )
    for body in (
        valid.SerializeToString()[:-3],  # truncated
        b"\x12\x05\xff\xff\xff\xff\xff",  # states: garbage
        b"\x10\x01",  # field 2 (states, a message) as a varint
    ):
        f = fail(raw, body, timeout=10)
        assert f.code != grpc.StatusCode.OK
    assert not _exists(rpc, env.store, good)


def test_body_too_large(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    f = fail(rpc.save, env.store, item(k, b"x" * (MAX_BODY + 1024)))
    # enforced by the gRPC transport (as in Dapr): no ErrorInfo, just the status
    assert f.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert not _exists(rpc, env.store, k)
    rpc.save(env.store, item(k, b"y" * (MAX_BODY - 1024)))
    assert len(rpc.get(env.store, k).data) == MAX_BODY - 1024
