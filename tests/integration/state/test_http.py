"""The state API over HTTP, end to end, against every state component kind.

Twin of ``test_grpc.py``: both modules have the same test names (``test_twins`` checks it), so
each behaviour is proven over both protocols. One sidecar per component kind serves this whole
module (``env`` in ``conftest``); tests use unique keys.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.harness import wait_until
from tests.integration.state._support import (
    EXPECTED_FEATURES,
    MAX_BODY,
    Http,
    StateEnv,
    parse_rfc3339,
    query_cases,
    query_rows,
)

pytestmark = pytest.mark.integration

VALUE = b'{"b":1,  "a":[1.0, 2e3]}'  # odd spacing and number forms: must come back verbatim


def _raw_items(*items: bytes) -> bytes:
    return b"[" + b",".join(items) + b"]"


def _exists(env: StateEnv, key: str, store: str | None = None) -> bool:
    r = env.http.get(store or env.store, key)
    assert r.status in (200, 204), r
    return r.status == 200


def _etag(env: StateEnv, key: str) -> str:
    r = env.http.get(env.store, key)
    assert r.status == 200, r
    return r.headers["etag"]


def _save(env: StateEnv, key: str, value: Any, **fields: Any) -> None:
    r = env.http.save(env.store, [{"key": key, "value": value, **fields}])
    assert r.status == 204, r


def _well_formed_stale_etag(env: StateEnv) -> str:
    """An ETag of the store's own form that no item has."""
    if env.kind in ("sqlite", "postgresql"):
        return str(uuid.uuid4())
    return "987654321"


def _assert_error(r: Any, status: int, code: str, reason: str | None = None) -> None:
    assert r.status == status, (r.status, r.body)
    assert r.error_code == code, r.body
    if reason is not None:
        assert reason in r.reasons, r.body


# ---- CRUD ----------------------------------------------------------------------------------


def test_save_get_roundtrip_exact_bytes(env: StateEnv) -> None:
    k1, k2, k3 = env.key(), env.key(), env.key()
    body = _raw_items(
        b'{"key":"' + k1.encode() + b'","value":' + VALUE + b"}",
        b'{"key":"' + k2.encode() + b'","value":"DeathStar"}',
        b'{"key":"' + k3.encode() + b'","value":""}',
    )
    assert env.http.save(env.store, body).status == 204
    r = env.http.get(env.store, k1)
    assert r.status == 200
    assert r.body == VALUE
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers.get("etag")
    # HTTP values are stored JSON-encoded: a string keeps its quotes
    assert env.http.get(env.store, k2).body == b'"DeathStar"'
    assert env.http.get(env.store, k3).body == b'""'


def test_missing_key_is_empty(env: StateEnv) -> None:
    r = env.http.get(env.store, env.key("missing"))
    assert r.status == 204
    assert r.body == b""
    assert "etag" not in r.headers


def test_overwrite_and_delete(env: StateEnv) -> None:
    k = env.key()
    _save(env, k, {"v": 1})
    _save(env, k, {"v": 2})
    assert env.http.get(env.store, k).json() == {"v": 2}
    assert env.http.delete(env.store, k).status == 204
    assert not _exists(env, k)
    # deleting a missing key is not an error
    assert env.http.delete(env.store, k).status == 204
    # PUT works wherever POST does
    base = f"/v1.0/state/{env.store}"
    assert env.http.request("PUT", base, [{"key": k, "value": 3}]).status == 204
    tx = {"operations": [{"operation": "upsert", "request": {"key": k, "value": 4}}]}
    assert env.http.request("PUT", f"{base}/transaction", tx).status == 204
    r = env.http.request("PUT", f"{base}/bulk", {"keys": [k]})
    assert r.json()[0]["data"] == 4


def test_special_keys_roundtrip(env: StateEnv) -> None:
    tag = uuid.uuid4().hex[:8]
    keys = [
        f"with space {tag}",
        f"slash/and/more/{tag}",
        f"ünïcødé-{tag}",
        f"dapr' OR '1'='1 {tag}",
        f"DROP TABLE state; {tag}",
        f"100%_like\\{tag}",
    ]
    for i, k in enumerate(keys):
        _save(env, k, i)
    for i, k in enumerate(keys):
        r = env.http.get(env.store, k)
        assert r.status == 200, k
        assert r.json() == i
    for k in keys:
        assert env.http.delete(env.store, k).status == 204
        assert not _exists(env, k)
    # a NUL character: refused as bad input (400) on every store (PostgreSQL cannot keep it)
    nul = f"nul\x00{tag}"
    for r in (
        env.http.save(env.store, [{"key": nul, "value": 1}]),
        env.http.save(env.store, [{"key": nul, "value": 1}, {"key": nul + "2", "value": 2}]),
        env.http.transact(env.store, {"operations": [_op("upsert", nul, 1)]}),
    ):
        assert r.status == 400, r
    assert env.http.get(env.store, nul).status == 400


# ---- ETags and concurrency -----------------------------------------------------------------


def test_etag_update_and_mismatch(env: StateEnv) -> None:
    k = env.key()
    _save(env, k, "v1")
    e1 = _etag(env, k)
    _save(env, k, "v2", etag=e1)
    e2 = _etag(env, k)
    assert e2 != e1
    r = env.http.save(env.store, [{"key": k, "value": "v3", "etag": e1}])
    _assert_error(r, 409, "ERR_STATE_SAVE")
    r = env.http.get(env.store, k)
    assert r.body == b'"v2"'
    assert r.headers["etag"] == e2
    # an ETag on a missing key is a mismatch too
    r = env.http.save(env.store, [{"key": env.key(), "value": 1, "etag": e2}])
    _assert_error(r, 409, "ERR_STATE_SAVE")


def test_delete_with_etag(env: StateEnv) -> None:
    k = env.key()
    _save(env, k, "v1")
    e1 = _etag(env, k)
    _save(env, k, "v2")
    r = env.http.delete(env.store, k, headers={"If-Match": e1})
    _assert_error(r, 409, "ERR_STATE_DELETE")
    assert _exists(env, k)
    r = env.http.delete(env.store, k, headers={"If-Match": _etag(env, k)})
    assert r.status == 204
    assert not _exists(env, k)


def test_invalid_etag(env: StateEnv) -> None:
    k = env.key()
    _save(env, k, "v1")
    r = env.http.save(env.store, [{"key": k, "value": "v2", "etag": "not an etag!"}])
    _assert_error(r, 400, "ERR_STATE_SAVE")
    r = env.http.delete(env.store, k, headers={"If-Match": "not an etag!"})
    _assert_error(r, 400, "ERR_STATE_DELETE")
    assert env.http.get(env.store, k).body == b'"v1"'


def test_empty_etag_means_none(env: StateEnv) -> None:
    k = env.key()
    _save(env, k, "v1", etag="")  # a new key, "no ETag"
    _save(env, k, "v2", etag="")  # last write wins
    assert env.http.get(env.store, k).body == b'"v2"'
    assert env.http.delete(env.store, k, headers={"If-Match": ""}).status == 204
    assert not _exists(env, k)


def test_first_write(env: StateEnv) -> None:
    first = {"concurrency": "first-write", "consistency": "strong"}
    k = env.key()
    _save(env, k, "one", options=first)
    r = env.http.save(env.store, [{"key": k, "value": "two", "options": first}])
    _assert_error(r, 409, "ERR_STATE_SAVE")
    assert env.http.get(env.store, k).body == b'"one"'
    # with an ETag: the current one wins once, the old one then fails
    e1 = _etag(env, k)
    _save(env, k, "three", etag=e1, options=first)
    r = env.http.save(env.store, [{"key": k, "value": "four", "etag": e1, "options": first}])
    _assert_error(r, 409, "ERR_STATE_SAVE")
    assert env.http.get(env.store, k).body == b'"three"'


def test_options_last_write_and_consistency(env: StateEnv) -> None:
    k = env.key()
    for options in (
        {"concurrency": "last-write", "consistency": "eventual"},
        {"concurrency": "last-write", "consistency": "strong"},
    ):
        _save(env, k, options["consistency"], options=options)
    r = env.http.get(env.store, k, query={"consistency": "strong"})
    assert r.body == b'"strong"'
    r = env.http.save(env.store, [{"key": k, "value": 1, "options": {"concurrency": "bogus"}}])
    _assert_error(r, 400, "ERR_STATE_SAVE")
    assert env.http.get(env.store, k).body == b'"strong"'


def test_bulk_save_is_per_item(env: StateEnv) -> None:
    k1, k2, k3 = env.key(), env.key(), env.key()
    r = env.http.save(env.store, [{"key": k, "value": "first"} for k in (k1, k2)])
    assert r.status == 204
    e1 = _etag(env, k1)
    # one stale ETag: that item fails, the others are still written (Dapr's bulk set)
    r = env.http.save(
        env.store,
        [
            {"key": k1, "value": "second", "etag": _well_formed_stale_etag(env)},
            {"key": k2, "value": "second", "etag": _etag(env, k2)},
            {"key": k3, "value": "second"},
        ],
    )
    _assert_error(r, 409, "ERR_STATE_SAVE")
    assert env.http.get(env.store, k1).body == b'"first"'
    assert _etag(env, k1) == e1
    assert env.http.get(env.store, k2).body == b'"second"'
    assert env.http.get(env.store, k3).body == b'"second"'
    # the same key several times in one request: applied in order, the last value stays
    r = env.http.save(env.store, [{"key": k3, "value": i} for i in range(20)])
    assert r.status == 204
    assert env.http.get(env.store, k3).json() == 19


def _race(n: int, fn: Any) -> list[Any]:
    """Run ``fn(i)`` in ``n`` threads released together; their results in order."""
    barrier = threading.Barrier(n)

    def go(i: int) -> Any:
        barrier.wait(timeout=10)
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_concurrent_writers_one_wins(env: StateEnv) -> None:
    """Racing first-writes of a new key, and racing writes with the same ETag: one winner."""
    n = 12
    k = env.key()
    clients = [Http(env.sidecar.http_port) for _ in range(n)]
    try:
        first = {"concurrency": "first-write"}
        statuses = _race(
            n, lambda i: clients[i].save(env.store, [{"key": k, "value": i, "options": first}])
        )
        assert sorted(r.status for r in statuses) == [204] + [409] * (n - 1)
        winner = next(i for i, r in enumerate(statuses) if r.status == 204)
        assert env.http.get(env.store, k).json() == winner
        etag = _etag(env, k)
        statuses = _race(
            n, lambda i: clients[i].save(env.store, [{"key": k, "value": -i, "etag": etag}])
        )
        assert sorted(r.status for r in statuses) == [204] + [409] * (n - 1)
        winner = next(i for i, r in enumerate(statuses) if r.status == 204)
        assert env.http.get(env.store, k).json() == -winner
    finally:
        for c in clients:
            c.close()


# ---- bulk get / delete ---------------------------------------------------------------------


def test_bulk_get(env: StateEnv) -> None:
    k1, k2, missing = env.key(), env.key(), env.key("missing")
    r = env.http.save(
        env.store,
        _raw_items(
            b'{"key":"' + k1.encode() + b'","value":' + VALUE + b"}",
            b'{"key":"' + k2.encode() + b'","value":"two"}',
        ),
    )
    assert r.status == 204
    r = env.http.bulk(env.store, [k1, missing, k2])
    assert r.status == 200
    items = r.json()
    assert [i["key"] for i in items] == [k1, missing, k2]
    assert items[0]["data"] == json.loads(VALUE)
    assert VALUE in r.body  # embedded verbatim
    assert items[2]["data"] == "two"
    assert items[0]["etag"] == _etag(env, k1)
    assert items[2]["etag"] == _etag(env, k2)
    assert "data" not in items[1]
    assert not items[1].get("etag")
    assert not any(i.get("error") for i in items)
    assert env.http.bulk(env.store, []).json() == []
    # repeated keys: one result per requested key, in order
    items = env.http.bulk(env.store, [k2, missing, k2, missing]).json()
    assert [(i["key"], i.get("data")) for i in items] == [(k2, "two"), (missing, None)] * 2


def test_bulk_delete(env: StateEnv) -> None:
    """HTTP has no bulk delete route: the same effect is one DELETE per key."""
    keys = [env.key() for _ in range(3)]
    assert env.http.save(env.store, [{"key": k, "value": 1} for k in keys]).status == 204
    stale = _etag(env, keys[2])
    _save(env, keys[2], 2)
    assert env.http.delete(env.store, keys[0]).status == 204
    r = env.http.delete(env.store, keys[1], headers={"If-Match": _etag(env, keys[1])})
    assert r.status == 204
    r = env.http.delete(env.store, keys[2], headers={"If-Match": stale})
    _assert_error(r, 409, "ERR_STATE_DELETE")
    assert [_exists(env, k) for k in keys] == [False, False, True]


# ---- transactions --------------------------------------------------------------------------


def _op(kind: str, key: str, value: Any = None, **fields: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"key": key, **fields}
    if kind == "upsert":
        request["value"] = value
    return {"operation": kind, "request": request}


def test_transaction_in_order(env: StateEnv) -> None:
    k1, k2, k3, k4 = (env.key() for _ in range(4))
    _save(env, k1, "value1")
    r = env.http.transact(
        env.store,
        {
            "operations": [
                _op("delete", k1),
                _op("upsert", k2, "value2"),
                _op("delete", k2),
                _op("upsert", k3, "value3"),
                _op("upsert", k4, "a"),
                _op("upsert", k4, "b"),
                _op("delete", env.key("never-written")),
            ]
        },
    )
    assert r.status == 204, r.body
    assert not _exists(env, k1)
    assert not _exists(env, k2)
    assert env.http.get(env.store, k3).body == b'"value3"'
    assert env.http.get(env.store, k4).body == b'"b"'
    assert env.http.transact(env.store, {"operations": []}).status == 204


def test_transaction_atomic_on_etag_mismatch(env: StateEnv) -> None:
    k1, k2 = env.key(), env.key()
    _save(env, k2, "old")
    r = env.http.transact(
        env.store,
        {
            "operations": [
                _op("upsert", k1, "new"),
                _op("upsert", k2, "new", etag=_well_formed_stale_etag(env)),
            ]
        },
    )
    _assert_error(r, 409, "ERR_STATE_TRANSACTION")
    assert not _exists(env, k1)
    assert env.http.get(env.store, k2).body == b'"old"'
    # a delete with a stale ETag rolls back the upsert before it too
    r = env.http.transact(
        env.store,
        {
            "operations": [
                _op("upsert", k1, "new"),
                _op("delete", k2, etag=_well_formed_stale_etag(env)),
            ]
        },
    )
    _assert_error(r, 409, "ERR_STATE_TRANSACTION")
    assert not _exists(env, k1)
    assert _exists(env, k2)


def test_transaction_invalid_etag(env: StateEnv) -> None:
    k1, k2 = env.key(), env.key()
    r = env.http.transact(
        env.store,
        {"operations": [_op("upsert", k1, 1), _op("upsert", k2, 2, etag="not an etag!")]},
    )
    _assert_error(r, 400, "ERR_STATE_TRANSACTION")
    assert not _exists(env, k1)
    assert not _exists(env, k2)


def test_transaction_unknown_operation(env: StateEnv) -> None:
    k1, k2 = env.key(), env.key()
    r = env.http.transact(env.store, {"operations": [_op("upsert", k1, 1), _op("merge", k2, 2)]})
    _assert_error(r, 400, "ERR_NOT_SUPPORTED_STATE_OPERATION")
    assert not _exists(env, k1)
    assert not _exists(env, k2)


def test_transaction_metadata_ttl(env: StateEnv) -> None:
    """Transaction-level metadata applies to every operation; an item's own overrides it."""
    k1, k2 = env.key(), env.key()
    r = env.http.transact(
        env.store,
        {
            "operations": [
                _op("upsert", k1, 1),
                _op("upsert", k2, 2, metadata={"ttlInSeconds": "-1"}),
            ],
            "metadata": {"ttlInSeconds": "100"},
        },
    )
    assert r.status == 204, r.body
    assert "metadata.ttlexpiretime" in env.http.get(env.store, k1).headers
    assert "metadata.ttlexpiretime" not in env.http.get(env.store, k2).headers


# ---- TTL -----------------------------------------------------------------------------------


def test_ttl_expire_time(env: StateEnv) -> None:
    k1, k2 = env.key(), env.key()
    before = datetime.now(UTC)
    _save(env, k1, "v", metadata={"ttlInSeconds": "100"})
    r = env.http.save(
        env.store, [{"key": k2, "value": "v"}], query={"metadata.ttlInSeconds": "100"}
    )
    assert r.status == 204
    for k in (k1, k2):
        r = env.http.get(env.store, k)
        assert r.status == 200
        expires = parse_rfc3339(r.headers["metadata.ttlexpiretime"])
        assert (
            before + timedelta(seconds=98) <= expires <= datetime.now(UTC) + timedelta(seconds=101)
        )
    item = env.http.bulk(env.store, [k1]).json()[0]
    assert "ttlExpireTime" in item["metadata"]


def test_ttl_expiry(env: StateEnv) -> None:
    k = env.key()
    _save(env, k, "short-lived", metadata={"ttlInSeconds": "1"})
    assert _exists(env, k)
    assert wait_until(lambda: not _exists(env, k), timeout=5.0), "key did not expire"
    assert env.http.bulk(env.store, [k]).json()[0].get("data") is None
    # an expired key counts as absent: first-write succeeds
    _save(env, k, "again", options={"concurrency": "first-write"})
    assert env.http.get(env.store, k).body == b'"again"'


def test_ttl_cleared(env: StateEnv) -> None:
    """-1 clears a TTL, and so do 0 and an overwrite without TTL."""
    cleared, zero, overwritten, clock = env.key(), env.key(), env.key(), env.key("clock")
    start = time.monotonic()
    for k in (cleared, zero, overwritten, clock):
        _save(env, k, "v", metadata={"ttlInSeconds": "1"})
    _save(env, cleared, "v", metadata={"ttlInSeconds": "-1"})
    _save(env, zero, "v", metadata={"ttlInSeconds": "0"})
    _save(env, overwritten, "v")
    for k in (cleared, zero, overwritten):
        assert "metadata.ttlexpiretime" not in env.http.get(env.store, k).headers
    # once the clock key (same TTL, written at the same time) is gone, the others would be too
    assert wait_until(lambda: not _exists(env, clock), timeout=5.0)
    assert time.monotonic() - start >= 0.9
    assert all(_exists(env, k) for k in (cleared, zero, overwritten))


@pytest.mark.parametrize("ttl", ["foo", "1.5", "", "-2"])
def test_ttl_invalid(env: StateEnv, ttl: str) -> None:
    k1, k2 = env.key(), env.key()
    r = env.http.save(
        env.store,
        [{"key": k1, "value": 1}, {"key": k2, "value": 2, "metadata": {"ttlInSeconds": ttl}}],
    )
    _assert_error(r, 400, "ERR_STATE_SAVE")
    assert not _exists(env, k1)
    assert not _exists(env, k2)


# ---- query ---------------------------------------------------------------------------------


def _seed_query(env: StateEnv, n: int = 5) -> str:
    tag, rows = query_rows(n)
    assert env.http.save(env.store, [{"key": k, "value": v} for k, v in rows]).status == 204
    return tag


def test_query(env: StateEnv) -> None:
    if not env.has("QUERY_API"):
        r = env.http.query(env.store, {"filter": {"EQ": {"a": 1}}})
        _assert_error(r, 500, "ERR_STATE_STORE_NOT_SUPPORTED", "DAPR_STATE_QUERYING_NOT_SUPPORTED")
        return
    tag = _seed_query(env)

    def ns(body: dict[str, Any]) -> list[int]:
        r = env.http.query(env.store, body)
        assert r.status == 200, r.body
        return [res["data"]["n"] for res in r.json()["results"]]

    for body, expected in query_cases(tag):
        assert ns(body) == expected, body
    eq_tag = {"EQ": {"tag": tag}}
    r = env.http.query(env.store, {"filter": eq_tag, "sort": [{"key": "n"}]})
    first = r.json()["results"][0]
    assert first["key"].startswith("q0-")
    assert "||" not in first["key"]
    assert first["etag"]


def test_query_no_results(env: StateEnv) -> None:
    if not env.has("QUERY_API"):
        pytest.skip(f"{env.kind} does not declare QUERY_API")
    r = env.http.query(env.store, {"filter": {"EQ": {"tag": uuid.uuid4().hex}}})
    assert r.status == 204
    assert r.body == b""


def test_query_paging(env: StateEnv) -> None:
    if not env.has("QUERY_API"):
        pytest.skip(f"{env.kind} does not declare QUERY_API")
    tag = _seed_query(env, 5)
    seen: list[int] = []
    token = None
    for _ in range(10):
        page: dict[str, Any] = {"limit": 2}
        if token:
            page["token"] = token
        r = env.http.query(
            env.store, {"filter": {"EQ": {"tag": tag}}, "sort": [{"key": "n"}], "page": page}
        )
        if r.status == 204:
            break
        doc = r.json()
        assert len(doc["results"]) <= 2
        seen += [res["data"]["n"] for res in doc["results"]]
        token = doc.get("token")
        if not token:
            break
    assert seen == [0, 1, 2, 3, 4]


def test_query_malformed(env: StateEnv) -> None:
    if not env.has("QUERY_API"):
        pytest.skip(f"{env.kind} does not declare QUERY_API")
    for body in (b"{not json", {"filter": {"LIKE": {"a": 1}}}, {"page": {"limit": -1}}):
        r = env.http.query(env.store, body)
        _assert_error(r, 400, "ERR_STATE_QUERY", "DAPR_STATE_QUERY_FAILED")


# ---- key listing (Tandem extension) --------------------------------------------------------


def test_list_keys(env: StateEnv) -> None:
    if not env.has("LIST_KEYS"):
        r = env.http.list_keys(env.store)
        _assert_error(r, 500, "ERR_STATE_STORE_NOT_SUPPORTED")
        return
    prefix = f"lk-{uuid.uuid4().hex[:8]}-"
    keys = {f"{prefix}{i:02d}" for i in range(7)}
    other = env.key("lk-other")
    assert env.http.save(env.store, [{"key": k, "value": 1} for k in [*keys, other]]).status == 204
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        query = {"prefix": prefix, "limit": "3"}
        if token:
            query["token"] = token
        r = env.http.list_keys(env.store, **query)
        assert r.status == 200, r.body
        doc = r.json()
        assert len(doc["keys"]) <= 3
        seen += doc["keys"]
        pages += 1
        token = doc.get("token", "")
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
    assert env.http.save(env.store, [{"key": k, "value": 1} for k in wanted | decoys]).status == 204
    r = env.http.list_keys(env.store, prefix=special, limit="100")
    assert set(r.json()["keys"]) == wanted
    # writes between pages: a token stays valid, every key present throughout is listed once
    prefix = f"lm-{uuid.uuid4().hex[:8]}-"
    stable = {f"{prefix}{i:02d}" for i in range(0, 10, 2)}
    assert env.http.save(env.store, [{"key": k, "value": 1} for k in stable]).status == 204
    doc = env.http.list_keys(env.store, prefix=prefix, limit="2").json()
    seen = list(doc["keys"])
    r = env.http.save(env.store, [{"key": f"{prefix}{i:02d}", "value": 1} for i in (1, 5, 11)])
    assert r.status == 204
    token = doc.get("token", "")
    while token:
        doc = env.http.list_keys(env.store, prefix=prefix, limit="2", token=token).json()
        seen += doc["keys"]
        token = doc.get("token", "")
    assert len(seen) == len(set(seen))
    assert stable <= set(seen)


def test_list_keys_bad_limit(env: StateEnv) -> None:
    if not env.has("LIST_KEYS"):
        pytest.skip(f"{env.kind} does not declare LIST_KEYS")
    for limit in ("0", "abc", "100000"):
        r = env.http.list_keys(env.store, limit=limit)
        _assert_error(r, 400, "ERR_MALFORMED_REQUEST")
    r = env.http.list_keys(env.store, prefix="a||b")
    _assert_error(r, 400, "ERR_MALFORMED_REQUEST")


def test_capabilities_in_metadata(env: StateEnv) -> None:
    doc = env.http.request("GET", "/v1.0/metadata").json()
    caps = {c["name"]: set(c["capabilities"]) for c in doc["components"]}
    assert caps[env.store] == EXPECTED_FEATURES[env.kind]
    assert set(env.features) == EXPECTED_FEATURES[env.kind]


# ---- key prefixes --------------------------------------------------------------------------


def _stored_as(env: StateEnv, store: str, key: str, expected: str) -> None:
    r = env.http.save(store, [{"key": key, "value": {"k": key}}])
    assert r.status == 204, r.body
    assert env.backend.stored_keys(key) == {expected}
    assert env.backend.raw_value(expected) == json.dumps({"k": key}).encode()
    assert env.http.get(store, key).json() == {"k": key}


def test_key_prefix_default_appid(env: StateEnv) -> None:
    if not env.backend.direct:
        pytest.skip(f"{env.kind} keeps its data in the sidecar: stored keys are not observable")
    k = f"{env.app_id}-{env.key()}"
    _stored_as(env, env.store, k, f"{env.app_id}||{k}")


def test_key_prefix_variants(env: StateEnv) -> None:
    if not env.backend.direct:
        pytest.skip(f"{env.kind} keeps its data in the sidecar: stored keys are not observable")
    v = env.variants
    k = f"{env.app_id}-{env.key()}"
    _stored_as(env, v["none"], k + "-none", k + "-none")
    _stored_as(env, v["name"], k + "-name", f"{v['name']}||{k}-name")
    _stored_as(env, v["custom"], k + "-custom", f"{env.custom_prefix.lower()}||{k}-custom")
    _stored_as(env, v["namespace"], k + "-ns", f"{env.app_id}||{k}-ns")  # NAMESPACE unset: as appid
    # the same user key in two stores with different prefixes: two separate items
    _save(env, k, "appid")
    assert env.http.get(v["none"], k).status == 204
    # a store without prefix sees the raw stored key of the prefixed one
    r = env.http.get(v["none"], f"{env.app_id}||{k}")
    _assert_error(r, 400, "ERR_MALFORMED_REQUEST", "DAPR_STATE_ILLEGAL_KEY")


# ---- bad input -----------------------------------------------------------------------------


def test_illegal_key(env: StateEnv) -> None:
    good = env.key()
    r = env.http.save(env.store, [{"key": good, "value": 1}, {"key": "a||b", "value": 1}])
    _assert_error(r, 400, "ERR_MALFORMED_REQUEST", "DAPR_STATE_ILLEGAL_KEY")
    assert not _exists(env, good)
    _assert_error(env.http.get(env.store, "a||b"), 400, "ERR_MALFORMED_REQUEST")
    _assert_error(env.http.delete(env.store, "a||b"), 400, "ERR_MALFORMED_REQUEST")
    _assert_error(env.http.bulk(env.store, [good, "a||b"]), 400, "ERR_MALFORMED_REQUEST")
    r = env.http.transact(
        env.store, {"operations": [_op("upsert", good, 1), _op("delete", "a||b")]}
    )
    _assert_error(r, 400, "ERR_MALFORMED_REQUEST", "DAPR_STATE_ILLEGAL_KEY")
    assert not _exists(env, good)


def test_unknown_store(env: StateEnv) -> None:
    missing = "no-such-store"
    k = env.key()
    for r in (
        env.http.save(missing, [{"key": k, "value": 1}]),
        env.http.get(missing, k),
        env.http.delete(missing, k),
        env.http.bulk(missing, [k]),
        env.http.transact(missing, {"operations": [_op("upsert", k, 1)]}),
        env.http.query(missing, {}),
        env.http.list_keys(missing),
    ):
        _assert_error(r, 400, "ERR_STATE_STORE_NOT_FOUND", "DAPR_STATE_NOT_FOUND")
        assert r.json()["details"][0]["metadata"] == {"appID": env.app_id}


def test_missing_key_field(env: StateEnv) -> None:
    good = env.key()
    for bad in ({"value": 1}, {"key": "", "value": 1}):
        r = env.http.save(env.store, [{"key": good, "value": 1}, bad])
        _assert_error(r, 400, "ERR_MALFORMED_REQUEST")
    assert not _exists(env, good)


def test_malformed_body(env: StateEnv) -> None:
    good = env.key()
    item = b'{"key":"' + good.encode() + b'","value":1}'
    for body in (
        item[:-3],  # truncated JSON
        b"[" + item + b",]",  # trailing comma
        item,  # an object, not an array
        b'[{"key":' + b'42,"value":1}]',  # wrong type
        b'[{"key":"x","value":1,"metadata":{"a":{"b":1}}}]',  # nested metadata
        b"\xff\xfe",
    ):
        r = env.http.save(env.store, body)
        _assert_error(r, 400, "ERR_MALFORMED_REQUEST")
    for path in ("bulk", "transaction"):
        r = env.http.request("POST", f"/v1.0/state/{env.store}/{path}", b"{oops")
        _assert_error(r, 400, "ERR_MALFORMED_REQUEST")
    assert not _exists(env, good)


def test_body_too_large(env: StateEnv) -> None:
    k = env.key()
    blob = "x" * (MAX_BODY + 1024)
    r = env.http.save(env.store, [{"key": k, "value": blob}])
    _assert_error(r, 413, "ERR_BODY_TOO_LARGE")
    assert not _exists(env, k)
    # just under the limit is fine
    _save(env, k, "y" * (MAX_BODY - 1024))
    assert len(env.http.get(env.store, k).body) == MAX_BODY - 1024 + 2
