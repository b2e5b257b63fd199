"""Issue 8: client mistakes are 4xx / INVALID_ARGUMENT on every store and both protocols.

Each case was a 500 (or gRPC INTERNAL) before: a non-object ``sort``, a ``page.limit`` past
64 bits, filters nested past the SQL parsers' limits, a value nested 1,000 arrays deep, a key
longer than PostgreSQL can index. Plus issue 7: Dapr's decimal page tokens on the query API,
and a store with ``keyPrefix: none`` querying the whole store.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import any_pb2, json_format
from google.rpc import status_pb2

from tests.integration.state._grpc import Grpc, RpcFailure, fail, item, op
from tests.integration.state._support import Resp, StateEnv

MAX_KEY_BYTES = 1024  # runtime.services.state.MAX_KEY_BYTES


@pytest.fixture
def rpc(env: StateEnv) -> Iterator[Grpc]:
    client = Grpc(env.grpc_target)
    yield client
    client.close()


def _nested_filter(depth: int) -> str:
    return '{"filter":' + '{"AND":[' * depth + '{"EQ":{"n":1}}' + "]}" * depth + "}"


BAD_QUERIES = {
    "sort-true": json.dumps({"sort": True}),
    "sort-object": json.dumps({"sort": {"key": "n"}}),
    "sort-order-number": json.dumps({"sort": [{"key": "n", "order": 1}]}),
    "page-list": json.dumps({"page": []}),
    "limit-2**63": json.dumps({"page": {"limit": 2**63}}),
    "limit-2**31": json.dumps({"page": {"limit": 2**31}}),
    "limit-string": json.dumps({"page": {"limit": "5"}}),
    "token-number": json.dumps({"page": {"limit": 1, "token": 5}}),
    "token-huge-decimal": json.dumps({"page": {"limit": 1, "token": "9" * 30}}),
    "filter-33-deep": _nested_filter(33),
    "filter-3000-deep": _nested_filter(3000),
    "filter-wide": json.dumps({"filter": {"OR": [{"EQ": {"n": i}} for i in range(1001)]}}),
    "operand-huge-int": json.dumps({"filter": {"GT": {"n": 10**400}}}),
    "operand-1e999": '{"filter": {"GT": {"n": 1e999}}}',
    "json-nested-100000": "[" * 100_000 + "]" * 100_000,
}


def _assert_400(r: Resp, code: str) -> None:
    assert r.status == 400, (r.status, r.body[:300])
    assert r.error_code == code, r.body[:300]


@pytest.mark.parametrize("name", BAD_QUERIES)
def test_bad_queries_are_400_and_invalid_argument(env: StateEnv, rpc: Grpc, name: str) -> None:
    if not env.has("QUERY_API"):
        pytest.skip(f"{env.kind} has no query API")
    query = BAD_QUERIES[name]
    _assert_400(env.http.query(env.store, query.encode()), "ERR_STATE_QUERY")
    failure = fail(rpc.query, env.store, query)
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, failure
    assert failure.error_code == "ERR_STATE_QUERY"


def test_a_value_nested_too_deep_is_400(env: StateEnv) -> None:
    deep = "[" * 1000 + "]" * 1000
    r = env.http.save(env.store, f'[{{"key": "{env.key()}", "value": {deep}}}]'.encode())
    _assert_400(r, "ERR_MALFORMED_REQUEST")
    tx = (
        f'{{"operations": [{{"operation": "upsert", "request": {{"key": "k", "value": {deep}}}}}]}}'
    )
    _assert_400(env.http.transact(env.store, tx.encode()), "ERR_MALFORMED_REQUEST")
    # over gRPC a value is opaque bytes: stored and returned unchanged, also in HTTP results
    key = env.key()
    deeper = ("[" * 100_000 + "]" * 100_000).encode()
    rpc = Grpc(env.grpc_target)
    try:
        rpc.save(env.store, item(key, deeper))
        assert rpc.get(env.store, key).data == deeper
    finally:
        rpc.close()
    assert env.http.get(env.store, key).body == deeper
    bulk = env.http.bulk(env.store, [key])
    assert bulk.status == 200, bulk.body[:300]
    assert bulk.json()[0]["data"] == deeper.decode()  # not JSON msgspec reads: sent as a string
    if env.has("QUERY_API"):  # only JSON documents take part in queries
        assert env.http.query(env.store, {"filter": {"EQ": {"a": 1}}}).status in (200, 204)


def test_keys_longer_than_the_limit_are_400(env: StateEnv, rpc: Grpc) -> None:
    longest = "é" * (MAX_KEY_BYTES // 2)  # 1024 UTF-8 bytes
    assert env.http.save(env.store, [{"key": longest, "value": 1}]).status == 204
    assert env.http.get(env.store, longest).status == 200
    too_long = longest + "x"
    r = env.http.save(env.store, [{"key": too_long, "value": 1}])
    _assert_400(r, "ERR_MALFORMED_REQUEST")
    assert "DAPR_STATE_ILLEGAL_KEY" in r.reasons
    assert len(r.body) < 2000  # the message does not echo the whole key
    _assert_400(env.http.get(env.store, "k" * 5000), "ERR_MALFORMED_REQUEST")
    _assert_400(env.http.delete(env.store, "k" * 5000), "ERR_MALFORMED_REQUEST")
    _assert_400(env.http.bulk(env.store, ["k" * 5000]), "ERR_MALFORMED_REQUEST")
    big = "k" * 500_000
    for call in (
        lambda: rpc.save(env.store, item(big, b"1")),
        lambda: rpc.get(env.store, big),
        lambda: rpc.delete(env.store, big),
        lambda: rpc.bulk(env.store, [big]),
    ):
        failure = fail(call)
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, failure
        assert failure.error_code == "ERR_MALFORMED_REQUEST"


def test_hostile_grpc_values_are_invalid_argument(env: StateEnv, rpc: Grpc) -> None:
    for call in (
        lambda: rpc.get("s" * 20_000, "k"),  # the store name is echoed: must stay short
        lambda: rpc.get("", "k"),
        lambda: rpc.save(env.store, item("k", b"1", metadata={"ttlInSeconds": "9" * 5000})),
        lambda: rpc.save(env.store, item("k", b"1", metadata={"ttlInSeconds": "9" * 50})),
        lambda: rpc.list_keys(env.store, token="9" * 40),
        lambda: rpc.list_keys(env.store, prefix="p" * 5000),
    ):
        failure = fail(call)
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, failure


def test_decimal_page_tokens(env: StateEnv) -> None:
    """The Dapr Python SDK's query example pages with ``"token": "3"``-style offsets."""
    if not env.has("QUERY_API"):
        pytest.skip(f"{env.kind} has no query API")
    marker = uuid.uuid4().hex
    keys = [f"{env.key()}-{i}" for i in range(5)]
    assert (
        env.http.save(env.store, [{"key": k, "value": {"m": marker}} for k in keys]).status == 204
    )
    flt = {"EQ": {"m": marker}}
    whole = env.http.query(env.store, {"filter": flt}).json()["results"]
    first = env.http.query(env.store, {"filter": flt, "page": {"limit": 3}}).json()
    assert [r["key"] for r in first["results"]] == [r["key"] for r in whole[:3]]
    opaque = env.http.query(
        env.store, {"filter": flt, "page": {"limit": 3, "token": first["token"]}}
    )
    decimal = env.http.query(env.store, {"filter": flt, "page": {"limit": 3, "token": "3"}})
    assert opaque.json()["results"] == decimal.json()["results"]
    assert [r["key"] for r in decimal.json()["results"]] == [r["key"] for r in whole[3:]]
    assert (
        env.http.query(env.store, {"filter": flt, "page": {"limit": 3, "token": "5"}}).status == 204
    )


def test_key_prefix_none_queries_the_whole_store(env: StateEnv) -> None:
    if not env.has("QUERY_API"):
        pytest.skip(f"{env.kind} has no query API")
    if not env.backend.direct:
        pytest.skip(f"{env.kind}: each component has its own data, nothing to share")
    marker = uuid.uuid4().hex
    mine, raw = env.key(), env.key()
    assert env.http.save(env.store, [{"key": mine, "value": {"m": marker}}]).status == 204
    assert env.http.save(env.variants["none"], [{"key": raw, "value": {"m": marker}}]).status == 204
    query = {"filter": {"EQ": {"m": marker}}}
    everything = env.http.query(env.variants["none"], query).json()["results"]
    assert sorted(r["key"] for r in everything) == sorted([f"{env.app_id}||{mine}", raw])
    # a prefixed store sees only its own keys, returned without the prefix
    scoped = env.http.query(env.store, query).json()["results"]
    assert [r["key"] for r in scoped] == [mine]


def _grpc_status_bytes(failure: RpcFailure) -> int:
    """Header bytes of the failure's status: percent-encoded grpc-message plus the base64
    ``grpc-status-details-bin`` (what a client's 8 KiB metadata limit counts)."""
    message = urllib.parse.quote(failure.message, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")
    status = status_pb2.Status(message=failure.message)
    for detail in failure.details:
        status.details.add().CopyFrom(json_format.ParseDict(detail, any_pb2.Any()))
    return len(message) + len(base64.b64encode(status.SerializeToString()))


def test_a_long_non_ascii_key_with_the_separator_fits_a_grpc_status(
    env: StateEnv, rpc: Grpc
) -> None:
    """The key is echoed in the message and the BadRequest details: a 1 KiB non-ASCII key must
    not push the status past the client's header limit (RESOURCE_EXHAUSTED instead of the
    real error); both protocols give the same, shortened details."""
    key = "€" * 340 + "||"  # 1022 UTF-8 bytes: within the key length limit
    r = env.http.save(env.store, [{"key": key, "value": 1}])
    _assert_400(r, "ERR_MALFORMED_REQUEST")
    assert "DAPR_STATE_ILLEGAL_KEY" in r.reasons
    failure = fail(rpc.save, env.store, item(key, b"1"))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, failure.code
    assert (failure.error_code, failure.reason) == (
        "ERR_MALFORMED_REQUEST",
        "DAPR_STATE_ILLEGAL_KEY",
    )
    assert failure.message == r.json()["message"]
    http_bad = [d for d in r.json()["details"] if d["@type"].endswith("BadRequest")]
    grpc_bad = [d for d in failure.details if d["@type"].endswith("BadRequest")]
    assert [d["field_violations"] for d in http_bad] == [d["field_violations"] for d in grpc_bad]
    assert _grpc_status_bytes(failure) < 4096


def test_nul_in_a_key_is_400_on_every_store(env: StateEnv, rpc: Grpc) -> None:
    """PostgreSQL cannot store NUL; so that every store answers alike, none accepts it."""
    nul = f"nul\x00{env.key()}"
    upsert = {"operations": [{"operation": "upsert", "request": {"key": nul, "value": 1}}]}
    for r in (
        env.http.save(env.store, [{"key": nul, "value": 1}]),
        env.http.save(env.store, [{"key": "ok" + env.key(), "value": 1}, {"key": nul, "value": 2}]),
        env.http.get(env.store, nul),
        env.http.delete(env.store, nul),
        env.http.bulk(env.store, [nul]),
        env.http.transact(env.store, upsert),
    ):
        _assert_400(r, "ERR_MALFORMED_REQUEST")
        assert "DAPR_STATE_ILLEGAL_KEY" in r.reasons
    for call in (
        lambda: rpc.save(env.store, item(nul, b"1")),
        lambda: rpc.get(env.store, nul),
        lambda: rpc.delete(env.store, nul),
        lambda: rpc.bulk(env.store, [nul]),
        lambda: rpc.transact(env.store, op("upsert", item(nul, b"1"))),
    ):
        failure = fail(call)
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, failure
        assert failure.error_code == "ERR_MALFORMED_REQUEST"
    if env.has("LIST_KEYS"):
        _assert_400(env.http.list_keys(env.store, prefix="p\x00"), "ERR_MALFORMED_REQUEST")
