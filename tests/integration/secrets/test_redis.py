"""``secretstores.redis`` through a running sidecar, on a private Redis server (never the
shared one: this module stops and pauses its own).

- strings and hashes under the prefix are secrets; keys outside the prefix, or of another
  type, never are; both protocols answer the same;
- with the server gone or unresponsive, calls fail with ``ERR_SECRET_GET`` (HTTP 500 / gRPC
  INTERNAL) well within the client's own timeout (the store's ``readTimeout`` is 1 s), the
  sidecar keeps serving, and calls succeed again, with no restart, once the server is back.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
import redis

from tests.brokers.private import PrivateServer, private_redis
from tests.integration.harness import Sidecar, component_yaml, wait_until
from tests.integration.secrets._grpc import SecretsGrpc
from tests.integration.state._grpc import fail
from tests.servers import unique

pytestmark = [pytest.mark.integration, pytest.mark.redis]

CLIENT_TIMEOUT = 8.0  # the bound every failing call must return within (store timeout: 1 s)


def _client(srv: PrivateServer) -> redis.Redis:
    return redis.Redis(port=srv.port, socket_timeout=2)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServer]:
    with private_redis(tmp_path_factory.mktemp("private-redis")) as srv:
        yield srv


PREFIX = unique("sec") + ":"


def _seed(srv: PrivateServer) -> None:
    c = _client(srv)
    c.set(PREFIX + "token", "t-value")
    c.hset(PREFIX + "db", "user", "u")
    c.hset(PREFIX + "db", "password", "p")
    c.rpush(PREFIX + "alist", "x")
    c.set("outside-the-prefix", "never")
    c.close()


@pytest.fixture(scope="module")
def sidecar(server: PrivateServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    _seed(server)
    comp = component_yaml(
        "redissecrets",
        "secretstores.redis",
        {
            "redisHost": f"127.0.0.1:{server.port}",
            "prefix": PREFIX,
            "dialTimeout": "1s",
            "readTimeout": "1s",
            "maxRetries": "1",
        },
    )
    with Sidecar.start(tmp_path_factory.mktemp("redis-secrets"), components=[comp]) as sc:
        yield sc


@pytest.fixture(scope="module")
def rpc(sidecar: Sidecar) -> Iterator[SecretsGrpc]:
    client = SecretsGrpc(sidecar.grpc_target, timeout=CLIENT_TIMEOUT)
    yield client
    client.close()


def _http(sc: Sidecar, key: str) -> tuple[int, dict[str, object]]:
    resp = sc.request("GET", f"/v1.0/secrets/redissecrets/{key}", timeout=CLIENT_TIMEOUT)
    body: dict[str, object] = resp.json()
    return resp.status, body


def test_strings_and_hashes_under_the_prefix_are_secrets(
    sidecar: Sidecar, rpc: SecretsGrpc
) -> None:
    assert _http(sidecar, "token") == (200, {"token": "t-value"})
    assert _http(sidecar, "db") == (200, {"user": "u", "password": "p"})
    assert rpc.get("redissecrets", "token") == {"token": "t-value"}
    assert rpc.get("redissecrets", "db") == {"user": "u", "password": "p"}


def test_bulk_holds_only_the_prefix_and_secret_types(sidecar: Sidecar, rpc: SecretsGrpc) -> None:
    expected = {"token": {"token": "t-value"}, "db": {"user": "u", "password": "p"}}
    assert _http(sidecar, "bulk") == (200, expected)
    assert rpc.bulk("redissecrets") == expected


def test_outside_the_prefix_or_another_type_is_never_a_secret(
    sidecar: Sidecar, rpc: SecretsGrpc
) -> None:
    status, body = _http(sidecar, "..%2Foutside-the-prefix")
    assert (status, body["errorCode"]) == (404, "ERR_SECRET_GET")
    status, body = _http(sidecar, "alist")  # a list: stored data that is not a secret
    assert (status, body["errorCode"]) == (500, "ERR_SECRET_GET")
    failure = fail(rpc.get, "redissecrets", "alist")
    assert (failure.code, failure.error_code) == (grpc.StatusCode.INTERNAL, "ERR_SECRET_GET")


def _fails(sidecar: Sidecar, rpc: SecretsGrpc) -> None:
    status, body = _http(sidecar, "token")  # returns well within CLIENT_TIMEOUT or raises
    assert (status, body["errorCode"]) == (500, "ERR_SECRET_GET")
    status, body = _http(sidecar, "bulk")
    assert (status, body["errorCode"]) == (500, "ERR_SECRET_GET")
    failure = fail(rpc.get, "redissecrets", "token")
    assert (failure.code, failure.error_code) == (grpc.StatusCode.INTERNAL, "ERR_SECRET_GET")
    assert sidecar.request("GET", "/v1.0/healthz/outbound").status == 204


def test_server_gone_then_back(sidecar: Sidecar, rpc: SecretsGrpc, server: PrivateServer) -> None:
    server.stop()
    try:
        _fails(sidecar, rpc)
    finally:
        server.start()
    _seed(server)  # a fresh server without persistence: the data is gone
    assert wait_until(lambda: _http(sidecar, "token")[0] == 200, 10.0)
    assert rpc.get("redissecrets", "db") == {"user": "u", "password": "p"}


def test_server_unresponsive_then_back(
    sidecar: Sidecar, rpc: SecretsGrpc, server: PrivateServer
) -> None:
    server.pause()
    try:
        _fails(sidecar, rpc)
        _, body = _http(sidecar, "token")
        assert "timed out" in str(body["message"])
    finally:
        server.resume()
    assert wait_until(lambda: _http(sidecar, "token")[0] == 200, 10.0)
