"""The official ``dapr`` Python SDK (1.19) works against Tandem's state API.

Why a subprocess: Tandem's generated modules (``protos.dapr.*``) and the SDK's
(``dapr.proto.*``) are generated from the same ``.proto`` files, so both register the same
full names (``dapr.proto.common.v1.StateItem``...) in protobuf's one default descriptor pool.
Checked on protobuf 7 / dapr 1.19.0: importing ``protos.dapr.runtime.v1.dapr_pb2`` and then
``dapr.proto.runtime.v1.dapr_pb2`` fails with ``TypeError: Couldn't build proto file into
descriptor pool: duplicate symbol 'dapr.proto.common.v1.StateItem'``; the other order fails
the same way (``duplicate symbol 'dapr.proto.runtime.v1.PubsubSubscriptionType'``).
``test_grpc`` and ``test_error_parity`` load ``protos`` into the pytest process, so the SDK
runs in ``sdk_client.py`` as a child process that prints JSON observations, and this module
imports neither ``protos`` (nor ``runtime``, which loads it) nor ``dapr``
(``test_this_module_loads_no_protos`` guards it).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import run_sdk, sdk_facts
from tests.integration.state._support import StateEnv

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SCRIPT = HERE / "sdk_client.py"
BINARY = b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01".decode("latin-1")


def _run_sdk(env: StateEnv) -> dict[str, Any]:
    stale = str(uuid.uuid4()) if env.kind in ("sqlite", "postgresql") else "987654321"
    prefix = f"sdk-{uuid.uuid4().hex[:10]}"
    query = "1" if env.has("QUERY_API") else "0"
    command = [sys.executable, str(SCRIPT), env.store, prefix, stale, query]
    facts = sdk_facts(run_sdk(env.sidecar, command))
    facts["prefix"] = prefix
    return facts


@pytest.fixture(scope="module")
def facts(env: StateEnv) -> dict[str, Any]:
    return _run_sdk(env)


def test_sdk_process_has_no_tandem_protos(facts: dict[str, Any]) -> None:
    assert facts["protos_loaded"] is False


def test_sdk_crud_exact_bytes(facts: dict[str, Any]) -> None:
    assert facts["bin"]["data"] == BINARY
    assert facts["bin"]["etag"]
    assert facts["str"] == "hello wörld".encode().decode("latin-1")  # str → UTF-8 bytes
    assert facts["missing"] == {"data": "", "etag": ""}


def test_sdk_etags(facts: dict[str, Any]) -> None:
    assert facts["etag_changed"] is True
    stale = facts["save_stale"]
    assert stale["type"] == "DaprGrpcError"
    assert stale["code"] == "ABORTED"
    assert stale["error_code"] == "ERR_STATE_SAVE"
    invalid = facts["save_invalid"]
    assert (invalid["code"], invalid["error_code"]) == ("INVALID_ARGUMENT", "ERR_STATE_SAVE")
    assert facts["after_stale"] == "v2"
    first = facts["first_write_again"]
    assert (first["code"], first["error_code"]) == ("ABORTED", "ERR_STATE_SAVE")
    delete = facts["delete_stale"]
    assert (delete["code"], delete["error_code"]) == ("ABORTED", "ERR_STATE_DELETE")
    assert facts["deleted"] is True


def test_sdk_bulk_get(facts: dict[str, Any]) -> None:
    p = facts["prefix"]
    items = facts["bulk"]
    assert [i["key"] for i in items] == [f"{p}-b1", f"{p}-nope", f"{p}-b2"]
    assert items[0]["data"] == "1"
    assert items[2]["data"] == BINARY
    assert items[0]["etag"]
    assert items[2]["etag"]
    assert items[1] == {"key": f"{p}-nope", "data": "", "etag": "", "error": ""}


def test_sdk_transactions(facts: dict[str, Any]) -> None:
    assert facts["tx"] == ["one", "two", ""]
    stale = facts["tx_stale"]
    assert (stale["code"], stale["error_code"]) == ("ABORTED", "ERR_STATE_TRANSACTION")
    assert facts["tx_after_stale"] == ["", "one"]  # the first operation was not applied


def test_sdk_query(env: StateEnv, facts: dict[str, Any]) -> None:
    if not env.has("QUERY_API"):
        err = facts["query_unsupported"]
        assert err["code"] == "INTERNAL"  # Dapr's pairing for querying not supported
        assert err["error_code"] == "DAPR_STATE_QUERYING_NOT_SUPPORTED"
        return
    q = facts["query"]
    assert [r["n"] for r in q["page1"]] == [0, 1]
    assert q["page1"][0]["key"] == f"{facts['prefix']}-q0"
    assert all(r["etag"] for r in q["page1"])
    assert q["token"]
    assert q["page2"] == [2]
    assert q["page2_token"] == ""


def test_sdk_rich_errors(env: StateEnv, facts: dict[str, Any]) -> None:
    unknown = facts["unknown_store"]
    assert unknown["code"] == "INVALID_ARGUMENT"
    assert unknown["error_code"] == "DAPR_STATE_NOT_FOUND"
    assert unknown["metadata"]["errorCode"] == "ERR_STATE_STORE_NOT_FOUND"
    assert unknown["metadata"]["appID"] == env.app_id
    # reference a.0: an illegal key carries ErrorInfo, ResourceInfo and BadRequest
    illegal = facts["illegal_key"]
    message = "input key/keyPrefix 'a||b' can't contain '||'"
    assert (illegal["code"], illegal["error_code"], illegal["message"]) == (
        "INVALID_ARGUMENT",
        "DAPR_STATE_ILLEGAL_KEY",
        message,
    )
    assert illegal["metadata"]["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert illegal["resource_info"] == {
        "@type": "type.googleapis.com/google.rpc.ResourceInfo",
        "resource_type": "state",
        "resource_name": env.store,
    }
    assert illegal["bad_request"] == {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "field_violations": [{"field": "a||b", "description": message}],
    }
    ttl = facts["bad_ttl"]
    assert (ttl["code"], ttl["error_code"]) == ("INVALID_ARGUMENT", "ERR_STATE_SAVE")
    assert ttl["resource_info"]["resource_name"] == env.store
    (violation,) = ttl["bad_request"]["field_violations"]
    assert violation["field"] == "ttlInSeconds"
    assert "'soon'" in violation["description"]


def test_this_module_loads_no_protos() -> None:
    """Importing this module (and its helpers) pulls in neither ``protos`` nor ``dapr``."""
    code = (
        "import sys, tests.integration.state.test_dapr_sdk\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('protos', 'dapr', 'runtime'))\n"
        "print(bad)\n"
        "raise SystemExit(1 if bad else 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
