"""The same failure reports the same error over HTTP and gRPC.

For every scenario the HTTP body's ``errorCode`` equals ``ErrorInfo.metadata["errorCode"]`` in the
gRPC ``grpc-status-details-bin`` trailer (decoded with ``grpc_status.rpc_status.from_call``), the
messages are equal, the HTTP ``details`` (ErrorInfo, ResourceInfo, BadRequest) equal the gRPC
status details (a legacy error without HTTP details has only the ErrorInfo naming its code on
gRPC), and the HTTP status and gRPC code are the pair of one entry of the error table. Also: a
value written over one protocol reads back identically over the other.

Exception, as in Dapr: a request over the body limit is refused by the gRPC transport itself
(RESOURCE_EXHAUSTED without details), so only the status pair is compared for it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from runtime.errors import TABLE
from runtime.services import state_errors  # noqa: F401  (registers the state entries)
from tests.integration.harness import comparable_detail
from tests.integration.state._grpc import FIRST_WRITE, Grpc, RpcFailure, fail, item, op
from tests.integration.state._support import MAX_BODY, Resp, StateEnv

pytestmark = pytest.mark.integration

Scenario = Callable[[StateEnv, Grpc], tuple[Resp, RpcFailure]]
SCENARIOS: dict[str, Scenario] = {}

MISSING = "no-such-store"


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


@pytest.fixture(scope="module")
def rpc(env: StateEnv) -> Iterator[Grpc]:
    client = Grpc(env.grpc_target)
    yield client
    client.close()


def _stale(env: StateEnv) -> str:
    return str(uuid.uuid4()) if env.kind in ("sqlite", "postgresql") else "987654321"


def _written(env: StateEnv, rpc: Grpc) -> tuple[str, str]:
    k = env.key()
    rpc.save(env.store, item(k, b'"v"'))
    return k, rpc.get(env.store, k).etag


# ---- scenarios -----------------------------------------------------------------------------


@scenario
def unknown_store_save(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k = env.key()
    return env.http.save(MISSING, [{"key": k, "value": 1}]), fail(rpc.save, MISSING, item(k))


@scenario
def unknown_store_get(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.get(MISSING, "k"), fail(rpc.get, MISSING, "k")


@scenario
def unknown_store_delete(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.delete(MISSING, "k"), fail(rpc.delete, MISSING, "k")


@scenario
def unknown_store_bulk_get(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.bulk(MISSING, ["k"]), fail(rpc.bulk, MISSING, ["k"])


@scenario
def unknown_store_transaction(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    body = {"operations": [{"operation": "upsert", "request": {"key": "k", "value": 1}}]}
    return env.http.transact(MISSING, body), fail(
        rpc.transact, MISSING, op("upsert", item("k", b"1"))
    )


@scenario
def unknown_store_query(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.query(MISSING, {}), fail(rpc.query, MISSING, "{}")


@scenario
def unknown_store_list_keys(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.list_keys(MISSING), fail(rpc.list_keys, MISSING)


@scenario
def illegal_key_save(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.save(env.store, [{"key": "a||b", "value": 1}]), fail(
        rpc.save, env.store, item("a||b", b"1")
    )


@scenario
def illegal_key_get(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.get(env.store, "a||b"), fail(rpc.get, env.store, "a||b")


@scenario
def illegal_key_delete(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.delete(env.store, "a||b"), fail(rpc.delete, env.store, "a||b")


@scenario
def illegal_key_bulk_get(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.bulk(env.store, ["a||b"]), fail(rpc.bulk, env.store, ["a||b"])


@scenario
def illegal_key_transaction(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    body = {"operations": [{"operation": "delete", "request": {"key": "a||b"}}]}
    return env.http.transact(env.store, body), fail(
        rpc.transact, env.store, op("delete", item("a||b"))
    )


@scenario
def empty_key_save(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.save(env.store, [{"key": "", "value": 1}]), fail(
        rpc.save, env.store, item("", b"1")
    )


@scenario
def etag_mismatch_save(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k, _ = _written(env, rpc)
    stale = _stale(env)
    return env.http.save(env.store, [{"key": k, "value": 1, "etag": stale}]), fail(
        rpc.save, env.store, item(k, b"1", etag=stale)
    )


@scenario
def etag_mismatch_delete(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k, _ = _written(env, rpc)
    stale = _stale(env)
    return env.http.delete(env.store, k, headers={"If-Match": stale}), fail(
        rpc.delete, env.store, k, stale
    )


@scenario
def invalid_etag_save(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k, _ = _written(env, rpc)
    return env.http.save(env.store, [{"key": k, "value": 1, "etag": "bad etag"}]), fail(
        rpc.save, env.store, item(k, b"1", etag="bad etag")
    )


@scenario
def invalid_etag_delete(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k, _ = _written(env, rpc)
    return env.http.delete(env.store, k, headers={"If-Match": "bad etag"}), fail(
        rpc.delete, env.store, k, "bad etag"
    )


@scenario
def first_write_conflict(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k, _ = _written(env, rpc)
    body = [{"key": k, "value": 1, "options": {"concurrency": "first-write"}}]
    return env.http.save(env.store, body), fail(
        rpc.save, env.store, item(k, b"1", concurrency=FIRST_WRITE)
    )


@scenario
def ttl_not_a_number(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k = env.key()
    meta = {"ttlInSeconds": "soon"}
    return env.http.save(env.store, [{"key": k, "value": 1, "metadata": meta}]), fail(
        rpc.save, env.store, item(k, b"1", metadata=meta)
    )


@scenario
def ttl_out_of_range(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k = env.key()
    meta = {"ttlInSeconds": str(2**31)}
    return env.http.save(env.store, [{"key": k, "value": 1, "metadata": meta}]), fail(
        rpc.save, env.store, item(k, b"1", metadata=meta)
    )


@scenario
def transaction_unknown_operation(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k = env.key()
    body = {"operations": [{"operation": "merge", "request": {"key": k, "value": 1}}]}
    return env.http.transact(env.store, body), fail(
        rpc.transact, env.store, op("merge", item(k, b"1"))
    )


@scenario
def transaction_etag_mismatch(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k, _ = _written(env, rpc)
    stale = _stale(env)
    body = {"operations": [{"operation": "delete", "request": {"key": k, "etag": stale}}]}
    return env.http.transact(env.store, body), fail(
        rpc.transact, env.store, op("delete", item(k, etag=stale))
    )


@scenario
def transaction_invalid_etag(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k, _ = _written(env, rpc)
    body = {
        "operations": [{"operation": "upsert", "request": {"key": k, "value": 1, "etag": "x y"}}]
    }
    return env.http.transact(env.store, body), fail(
        rpc.transact, env.store, op("upsert", item(k, b"1", etag="x y"))
    )


@scenario
def transaction_bad_ttl(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    k = env.key()
    body = {
        "operations": [{"operation": "upsert", "request": {"key": k, "value": 1}}],
        "metadata": {"ttlInSeconds": "1.5"},
    }
    return env.http.transact(env.store, body), fail(
        rpc.transact, env.store, op("upsert", item(k, b"1")), metadata={"ttlInSeconds": "1.5"}
    )


@scenario
def query_malformed_or_unsupported(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    text = '{"filter": {"LIKE": {"a": 1}}}'
    return env.http.query(env.store, text.encode()), fail(rpc.query, env.store, text)


@scenario
def query_not_json(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.query(env.store, b"{nope"), fail(rpc.query, env.store, "{nope")


@scenario
def list_keys_bad_limit(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.list_keys(env.store, limit="-1"), fail(rpc.list_keys, env.store, limit=-1)


@scenario
def list_keys_illegal_prefix(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    return env.http.list_keys(env.store, prefix="a||"), fail(rpc.list_keys, env.store, prefix="a||")


@scenario
def list_keys_bad_token(env: StateEnv, rpc: Grpc) -> tuple[Resp, RpcFailure]:
    token = "!!not-a-token!!"
    return env.http.list_keys(env.store, token=token), fail(rpc.list_keys, env.store, token=token)


# ---- the checks ----------------------------------------------------------------------------


def _table_entry(code: str, status: int, grpc_code: grpc.StatusCode) -> str:
    """The error table entry both answers come from (the pair must be one entry's)."""
    names = [
        name
        for name, kind in TABLE.items()
        if (kind.code, int(kind.http_status), kind.grpc_code) == (code, status, grpc_code)
    ]
    assert names, f"no table entry is {code} HTTP {status} / gRPC {grpc_code.name}"
    return names[0]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_error_parity(env: StateEnv, rpc: Grpc, name: str) -> None:
    resp, failure = SCENARIOS[name](env, rpc)
    assert resp.status >= 400, (name, resp)
    doc = resp.json()
    assert doc["errorCode"], resp.body
    # same code, message and status pair (one table entry)
    assert failure.error_code == doc["errorCode"], (resp.body, failure)
    assert failure.message == doc["message"], (resp.body, failure)
    _table_entry(doc["errorCode"], resp.status, failure.code)
    assert failure.domain == "dapr.io"
    # same details: HTTP sends them for rich errors, gRPC always at least the ErrorInfo
    if "details" in doc:
        http_details = [comparable_detail(d) for d in doc["details"]]
        assert http_details == [comparable_detail(d) for d in failure.details], (resp.body, failure)
    else:
        (only,) = failure.details
        assert comparable_detail(only) == {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": doc["errorCode"],
            "domain": "dapr.io",
        }


def test_error_parity_body_too_large(env: StateEnv, rpc: Grpc) -> None:
    k = env.key()
    blob = "x" * (MAX_BODY + 16)
    resp = env.http.save(env.store, [{"key": k, "value": blob}])
    failure = fail(rpc.save, env.store, item(k, blob.encode()))
    assert resp.status == 413
    assert resp.error_code == "ERR_BODY_TOO_LARGE"
    assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED  # the transport's own answer
    assert env.http.get(env.store, k).status == 204


# ---- values cross the protocols unchanged --------------------------------------------------


def test_value_parity(env: StateEnv, rpc: Grpc) -> None:
    k_http, k_grpc = env.key(), env.key()
    raw = b'{"b":1,  "a":[1.0, 2e3]}'
    body = b'[{"key":"' + k_http.encode() + b'","value":' + raw + b"}]"
    assert env.http.save(env.store, body).status == 204
    assert rpc.get(env.store, k_http).data == raw
    rpc.save(env.store, item(k_grpc, raw))
    assert env.http.get(env.store, k_grpc).body == raw
    # the ETag is the same whichever protocol reads it
    assert env.http.get(env.store, k_grpc).headers["etag"] == rpc.get(env.store, k_grpc).etag
    # bulk over HTTP embeds a gRPC-written JSON value as JSON, other bytes as a string
    k_text = env.key()
    rpc.save(env.store, item(k_text, b"plain text"))
    items = env.http.bulk(env.store, [k_grpc, k_text]).json()
    assert items[0]["data"] == json.loads(raw)
    assert items[1]["data"] == "plain text"


def _strict_json(body: bytes) -> Any:
    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(body.decode("utf-8"), parse_constant=reject)


def test_value_parity_not_quite_json(env: StateEnv, rpc: Grpc) -> None:
    """Bytes Python's json module accepts but JSON does not: HTTP answers stay valid JSON."""
    values = [b"NaN", b"-Infinity", "{}".encode("utf-16"), b"\xef\xbb\xbf{}"]
    keys = [env.key() for _ in values]
    rpc.save(env.store, *(item(k, v) for k, v in zip(keys, values, strict=True)))
    resp = env.http.bulk(env.store, keys)
    assert resp.status == 200
    items = _strict_json(resp.body)
    assert all(isinstance(i["data"], str) for i in items), items
    assert items[0]["data"] == "NaN"
    for k, v in zip(keys, values, strict=True):
        assert env.http.get(env.store, k).body == v  # GET returns the bytes as they are
