"""The same configuration failure reports the same error over HTTP and gRPC: one ``ERR_*``
code (HTTP ``errorCode``, gRPC ErrorInfo ``metadata.errorCode``), one message, and the HTTP
status and gRPC code of one entry of the error table."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from runtime.errors import TABLE
from runtime.services import configuration_errors  # noqa: F401  (registers the entries)
from tests.integration.configuration._grpc import Grpc
from tests.integration.configuration._support import STORE, ConfigEnv
from tests.integration.harness import Response
from tests.integration.state._grpc import RpcFailure, fail

pytestmark = pytest.mark.integration

Scenario = Callable[[ConfigEnv, Grpc], tuple[Response, RpcFailure]]

SCENARIOS: dict[str, Scenario] = {
    "unknown_store_get": lambda env, rpc: (
        env.http("/v1.0/configuration/nope?key=a"),
        fail(rpc.get, "nope", ["a"]),
    ),
    "empty_key_get": lambda env, rpc: (
        env.http(f"/v1.0/configuration/{STORE}?key=a&key="),
        fail(rpc.get, STORE, ["a", ""]),
    ),
    "unknown_subscription_id": lambda env, rpc: (
        env.http(f"/v1.0/configuration/{STORE}/no-such-id/unsubscribe"),
        fail(rpc.unsubscribe, STORE, "no-such-id"),
    ),
    "subscription_of_another_store": lambda env, rpc: (
        env.http("/v1.0/configuration/nope/no-such-id/unsubscribe"),
        fail(rpc.unsubscribe, "nope", "no-such-id"),
    ),
}


@pytest.fixture(scope="module")
def rpc(env: ConfigEnv) -> Iterator[Grpc]:
    client = Grpc(env.sidecar.grpc_target)
    yield client
    client.close()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_error_on_both_protocols(env: ConfigEnv, rpc: Grpc, name: str) -> None:
    resp, failure = SCENARIOS[name](env, rpc)
    body = resp.json()
    assert 400 <= resp.status < 500, body
    assert body["errorCode"] == failure.error_code
    assert body["message"] == failure.message
    pairs = {(k.code, k.http_status, k.grpc_code) for k in TABLE.values()}
    assert (body["errorCode"], resp.status, failure.code) in pairs
