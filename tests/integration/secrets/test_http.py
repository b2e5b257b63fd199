"""The secrets API over HTTP (twin of ``test_grpc.py``: the same cases, by name)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.integration.harness import Response
from tests.integration.secrets._support import CANARY, ENV_SECRETS, FILE_SECRETS, SecretsEnv

pytestmark = pytest.mark.integration

BASE = "/v1.0/secrets"


def _error(resp: Response, status: int, code: str) -> str:
    assert resp.status == status, resp.text
    body = resp.json()
    assert body["errorCode"] == code, body
    assert CANARY not in resp.text
    message: str = body["message"]
    return message


def test_get_a_secret(env: SecretsEnv) -> None:
    resp = env.get(f"{BASE}/localsecretstore/plain")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert resp.json() == {"plain": FILE_SECRETS["plain"]}


def test_nested_secrets_are_flattened(env: SecretsEnv) -> None:
    assert env.get(f"{BASE}/localsecretstore/nested:user").json() == {
        "nested:user": FILE_SECRETS["nested"]["user"]
    }
    assert env.get(f"{BASE}/localsecretstore/list:1:deep").json() == {
        "list:1:deep": f"{CANARY}-deep"
    }
    assert env.get(f"{BASE}/localsecretstore/number").json() == {"number": "42"}
    _error(env.get(f"{BASE}/localsecretstore/nested"), 404, "ERR_SECRET_GET")


def test_multi_valued_secret(env: SecretsEnv) -> None:
    assert env.get(f"{BASE}/multistore/nested").json() == FILE_SECRETS["nested"]
    assert env.get(f"{BASE}/multistore/plain").json() == {"plain": FILE_SECRETS["plain"]}


def test_env_secret_allowed_by_scope(env: SecretsEnv) -> None:
    assert env.get(f"{BASE}/envstore/ALLOWED").json() == {"ALLOWED": ENV_SECRETS["ALLOWED"]}


def test_env_secret_outside_the_allow_list_is_denied(env: SecretsEnv) -> None:
    other = _error(env.get(f"{BASE}/envstore/OTHER"), 403, "ERR_PERMISSION_DENIED")
    absent = _error(env.get(f"{BASE}/envstore/ABSENT"), 403, "ERR_PERMISSION_DENIED")
    assert other.replace("'OTHER'", "'ABSENT'") == absent


def test_denied_secret_same_answer_whether_or_not_it_exists(env: SecretsEnv) -> None:
    present = _error(env.get(f"{BASE}/localsecretstore/denied"), 403, "ERR_PERMISSION_DENIED")
    absent = _error(
        env.get(f"{BASE}/localsecretstore/missing-denied"), 403, "ERR_PERMISSION_DENIED"
    )
    assert present.replace("'denied'", "'missing-denied'") == absent


def test_bulk_leaves_denied_secrets_out(env: SecretsEnv) -> None:
    resp = env.get(f"{BASE}/localsecretstore/bulk")
    assert resp.status == 200
    found = resp.json()
    assert found["plain"] == {"plain": FILE_SECRETS["plain"]}
    assert found["nested:password"] == {"nested:password": FILE_SECRETS["nested"]["password"]}
    assert "denied" not in found
    assert FILE_SECRETS["denied"] not in resp.text


def test_bulk_with_an_allow_list(env: SecretsEnv) -> None:
    assert env.get(f"{BASE}/envstore/bulk").json() == {
        "ALLOWED": {"ALLOWED": ENV_SECRETS["ALLOWED"]}
    }


def test_bulk_multi_valued(env: SecretsEnv) -> None:
    found = env.get(f"{BASE}/multistore/bulk").json()
    assert found["nested"] == FILE_SECRETS["nested"]
    assert found["denied"] == {"denied": FILE_SECRETS["denied"]}  # no scope on this store


def test_metadata_parameters_are_accepted(env: SecretsEnv) -> None:
    resp = env.get(f"{BASE}/localsecretstore/plain?metadata.version_id=1&metadata.namespace=x")
    assert resp.json() == {"plain": FILE_SECRETS["plain"]}
    assert env.get(f"{BASE}/localsecretstore/bulk?metadata.version_id=1").status == 200


def test_missing_secret_is_not_found(env: SecretsEnv) -> None:
    message = _error(env.get(f"{BASE}/localsecretstore/nope"), 404, "ERR_SECRET_GET")
    assert "nope" in message
    assert "localsecretstore" in message


def test_unknown_store_is_a_client_error(env: SecretsEnv) -> None:
    _error(env.get(f"{BASE}/nostore/plain"), 400, "ERR_SECRET_STORE_NOT_FOUND")
    _error(env.get(f"{BASE}/nostore/bulk"), 400, "ERR_SECRET_STORE_NOT_FOUND")


@pytest.mark.parametrize(
    "key",
    ["../secrets.json", "../../../../etc/passwd", "/etc/passwd", "nested/../plain", "secrets.json"],
)
def test_path_tricks_name_no_secret(env: SecretsEnv, key: str) -> None:
    resp = env.get(f"{BASE}/localsecretstore/{quote(key, safe='')}")
    assert resp.status in (400, 404), resp.text
    assert "root:" not in resp.text
    assert CANARY not in resp.text
    assert resp.json()["errorCode"] in ("ERR_SECRET_GET", "ERR_MALFORMED_REQUEST")


@pytest.mark.parametrize("key", ["a\x00b", "k" * 1025, "é" * 600])
def test_nul_and_overlong_keys_are_rejected(env: SecretsEnv, key: str) -> None:
    _error(env.get(f"{BASE}/localsecretstore/{quote(key, safe='')}"), 400, "ERR_MALFORMED_REQUEST")


def test_a_secret_named_bulk(env: SecretsEnv) -> None:
    # as in Dapr, /bulk is the bulk route: the secret named "bulk" is part of its answer
    found = env.get(f"{BASE}/localsecretstore/bulk").json()
    assert found["bulk"] == {"bulk": FILE_SECRETS["bulk"]}


def test_secret_key_ref_configures_a_component(env: SecretsEnv) -> None:
    body = json.dumps([{"key": "k", "value": "from-a-ref"}])
    assert env.sidecar.request("POST", "/v1.0/state/statestore", body).status == 204
    assert env.get("/v1.0/state/statestore/k").json() == "from-a-ref"
    assert (env.tmp / "state-from-ref.db").exists()


def test_metadata_api_shows_no_secret_value(env: SecretsEnv) -> None:
    resp = env.get("/v1.0/metadata")
    assert CANARY not in resp.text
    types = {c["name"]: c["type"] for c in resp.json()["components"]}
    assert types["localsecretstore"] == "secretstores.local.file"
    assert types["envstore"] == "secretstores.local.env"
    caps = {c["name"]: c.get("capabilities", []) for c in resp.json()["components"]}
    assert caps["multistore"] == ["MULTIPLE_KEY_VALUES_PER_SECRET"]
