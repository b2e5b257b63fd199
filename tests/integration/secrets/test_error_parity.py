"""Every secrets failure carries the same code and message over HTTP and gRPC.

Statuses are the table's (``runtime/services/secrets_errors.py``): the pairs below are what a
client sees on each protocol for one cause.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import grpc
import pytest

from tests.integration.secrets._grpc import SecretsGrpc
from tests.integration.secrets._support import SecretsEnv
from tests.integration.state._grpc import fail

pytestmark = pytest.mark.integration
SC = grpc.StatusCode

# (store, key or None for bulk) -> (HTTP status, gRPC code, error code)
CASES = {
    "unknown_store_get": (
        ("nostore", "k"),
        (400, SC.INVALID_ARGUMENT, "ERR_SECRET_STORE_NOT_FOUND"),
    ),
    "unknown_store_bulk": (
        ("nostore", None),
        (400, SC.INVALID_ARGUMENT, "ERR_SECRET_STORE_NOT_FOUND"),
    ),
    "missing_secret": (("localsecretstore", "nope"), (404, SC.NOT_FOUND, "ERR_SECRET_GET")),
    "denied_secret": (
        ("localsecretstore", "denied"),
        (403, SC.PERMISSION_DENIED, "ERR_PERMISSION_DENIED"),
    ),
    "not_on_allow_list": (
        ("envstore", "OTHER"),
        (403, SC.PERMISSION_DENIED, "ERR_PERMISSION_DENIED"),
    ),
    "overlong_key": (
        ("localsecretstore", "k" * 2000),
        (400, SC.INVALID_ARGUMENT, "ERR_MALFORMED_REQUEST"),
    ),
    "nul_in_key": (
        ("localsecretstore", "a\x00"),
        (400, SC.INVALID_ARGUMENT, "ERR_MALFORMED_REQUEST"),
    ),
}


@pytest.fixture(scope="module")
def rpc(env: SecretsEnv) -> Iterator[SecretsGrpc]:
    client = SecretsGrpc(env.sidecar.grpc_target)
    yield client
    client.close()


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_code_and_message_on_both_protocols(
    env: SecretsEnv, rpc: SecretsGrpc, case: str
) -> None:
    (store, key), (status, grpc_code, code) = CASES[case]
    if key is None:
        resp = env.get(f"/v1.0/secrets/{store}/bulk")
        failure = fail(rpc.bulk, store)
    else:
        resp = env.get(f"/v1.0/secrets/{store}/{quote(key, safe='')}")
        failure = fail(rpc.get, store, key)
    body = resp.json()
    assert (resp.status, body["errorCode"]) == (status, code)
    assert (failure.code, failure.error_code, failure.reason) == (grpc_code, code, code)
    assert body["message"] == failure.message
