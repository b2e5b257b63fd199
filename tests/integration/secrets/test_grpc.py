"""The secrets API over gRPC (twin of ``test_http.py``: the same cases, by name)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import metadata_pb2, state_pb2
from tests.integration.secrets._grpc import SecretsGrpc
from tests.integration.secrets._support import CANARY, ENV_SECRETS, FILE_SECRETS, SecretsEnv
from tests.integration.state._grpc import RpcFailure, fail

pytestmark = pytest.mark.integration
SC = grpc.StatusCode


@pytest.fixture(scope="module")
def rpc(env: SecretsEnv) -> Iterator[SecretsGrpc]:
    client = SecretsGrpc(env.sidecar.grpc_target)
    yield client
    client.close()


def _error(failure: RpcFailure, code: grpc.StatusCode, error_code: str) -> str:
    assert failure.code == code, failure
    assert failure.error_code == error_code
    assert failure.reason == error_code  # legacy Dapr errors: the reason is the code
    assert CANARY not in failure.message
    return failure.message


def test_get_a_secret(rpc: SecretsGrpc) -> None:
    assert rpc.get("localsecretstore", "plain") == {"plain": FILE_SECRETS["plain"]}


def test_nested_secrets_are_flattened(rpc: SecretsGrpc) -> None:
    assert rpc.get("localsecretstore", "nested:user") == {
        "nested:user": FILE_SECRETS["nested"]["user"]
    }
    assert rpc.get("localsecretstore", "list:1:deep") == {"list:1:deep": f"{CANARY}-deep"}
    assert rpc.get("localsecretstore", "number") == {"number": "42"}
    _error(fail(rpc.get, "localsecretstore", "nested"), SC.NOT_FOUND, "ERR_SECRET_GET")


def test_multi_valued_secret(rpc: SecretsGrpc) -> None:
    assert rpc.get("multistore", "nested") == FILE_SECRETS["nested"]
    assert rpc.get("multistore", "plain") == {"plain": FILE_SECRETS["plain"]}


def test_env_secret_allowed_by_scope(rpc: SecretsGrpc) -> None:
    assert rpc.get("envstore", "ALLOWED") == {"ALLOWED": ENV_SECRETS["ALLOWED"]}


def test_env_secret_outside_the_allow_list_is_denied(rpc: SecretsGrpc) -> None:
    denied = SC.PERMISSION_DENIED
    other = _error(fail(rpc.get, "envstore", "OTHER"), denied, "ERR_PERMISSION_DENIED")
    absent = _error(fail(rpc.get, "envstore", "ABSENT"), denied, "ERR_PERMISSION_DENIED")
    assert other.replace("'OTHER'", "'ABSENT'") == absent


def test_denied_secret_same_answer_whether_or_not_it_exists(rpc: SecretsGrpc) -> None:
    denied = SC.PERMISSION_DENIED
    present = _error(fail(rpc.get, "localsecretstore", "denied"), denied, "ERR_PERMISSION_DENIED")
    absent = _error(
        fail(rpc.get, "localsecretstore", "missing-denied"), denied, "ERR_PERMISSION_DENIED"
    )
    assert present.replace("'denied'", "'missing-denied'") == absent


def test_bulk_leaves_denied_secrets_out(rpc: SecretsGrpc) -> None:
    found = rpc.bulk("localsecretstore")
    assert found["plain"] == {"plain": FILE_SECRETS["plain"]}
    assert found["nested:password"] == {"nested:password": FILE_SECRETS["nested"]["password"]}
    assert "denied" not in found
    assert FILE_SECRETS["denied"] not in str(found)


def test_bulk_with_an_allow_list(rpc: SecretsGrpc) -> None:
    assert rpc.bulk("envstore") == {"ALLOWED": {"ALLOWED": ENV_SECRETS["ALLOWED"]}}


def test_bulk_multi_valued(rpc: SecretsGrpc) -> None:
    found = rpc.bulk("multistore")
    assert found["nested"] == FILE_SECRETS["nested"]
    assert found["denied"] == {"denied": FILE_SECRETS["denied"]}  # no scope on this store


def test_metadata_parameters_are_accepted(rpc: SecretsGrpc) -> None:
    md = {"version_id": "1", "namespace": "x"}
    assert rpc.get("localsecretstore", "plain", md) == {"plain": FILE_SECRETS["plain"]}
    assert "plain" in rpc.bulk("localsecretstore", md)


def test_missing_secret_is_not_found(rpc: SecretsGrpc) -> None:
    failure = fail(rpc.get, "localsecretstore", "nope")
    message = _error(failure, SC.NOT_FOUND, "ERR_SECRET_GET")
    assert "nope" in message
    assert "localsecretstore" in message


def test_unknown_store_is_a_client_error(rpc: SecretsGrpc) -> None:
    invalid = SC.INVALID_ARGUMENT
    _error(fail(rpc.get, "nostore", "plain"), invalid, "ERR_SECRET_STORE_NOT_FOUND")
    _error(fail(rpc.bulk, "nostore"), invalid, "ERR_SECRET_STORE_NOT_FOUND")


@pytest.mark.parametrize(
    "key",
    ["../secrets.json", "../../../../etc/passwd", "/etc/passwd", "nested/../plain", "secrets.json"],
)
def test_path_tricks_name_no_secret(rpc: SecretsGrpc, key: str) -> None:
    failure = fail(rpc.get, "localsecretstore", key)
    _error(failure, SC.NOT_FOUND, "ERR_SECRET_GET")
    assert "root:" not in failure.message


@pytest.mark.parametrize("key", ["a\x00b", "k" * 1025, "é" * 600, ""])
def test_nul_and_overlong_keys_are_rejected(rpc: SecretsGrpc, key: str) -> None:
    failure = fail(rpc.get, "localsecretstore", key)
    _error(failure, SC.INVALID_ARGUMENT, "ERR_MALFORMED_REQUEST")


def test_a_secret_named_bulk(rpc: SecretsGrpc) -> None:
    # over gRPC nothing shadows it: GetSecret reads the secret named "bulk"
    assert rpc.get("localsecretstore", "bulk") == {"bulk": FILE_SECRETS["bulk"]}


def test_secret_key_ref_configures_a_component(env: SecretsEnv, rpc: SecretsGrpc) -> None:
    item = common_pb2.StateItem(key="g", value=b"from-a-ref")
    rpc.dapr.SaveState(state_pb2.SaveStateRequest(store_name="statestore", states=[item]))
    got = rpc.dapr.GetState(state_pb2.GetStateRequest(store_name="statestore", key="g"))
    assert got.data == b"from-a-ref"
    assert (env.tmp / "state-from-ref.db").exists()


def test_metadata_api_shows_no_secret_value(rpc: SecretsGrpc) -> None:
    resp = rpc.dapr.GetMetadata(metadata_pb2.GetMetadataRequest())
    assert CANARY not in str(resp)
    comps = {c.name: c for c in resp.registered_components}
    assert comps["localsecretstore"].type == "secretstores.local.file"
    assert comps["envstore"].type == "secretstores.local.env"
    assert list(comps["multistore"].capabilities) == ["MULTIPLE_KEY_VALUES_PER_SECRET"]
