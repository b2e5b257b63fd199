"""The official ``dapr`` Python SDK (1.19) reads Tandem's secrets over gRPC.

``DaprClient.get_secret`` / ``get_bulk_secret`` run in a child process (``sdk_client.py``):
the SDK's generated protos and Tandem's cannot share one process (see
``tests/integration/state/test_dapr_sdk.py``). This module imports neither.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import run_sdk, sdk_facts
from tests.integration.secrets._support import ENV_SECRETS, FILE_SECRETS, SecretsEnv

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


@pytest.fixture(scope="module")
def facts(env: SecretsEnv) -> dict[str, Any]:
    return sdk_facts(run_sdk(env.sidecar, [sys.executable, str(HERE / "sdk_client.py")]))


def test_sdk_process_has_no_tandem_protos(facts: dict[str, Any]) -> None:
    assert facts["protos_loaded"] is False


def test_sdk_get_secret(facts: dict[str, Any]) -> None:
    assert facts["plain"] == {"plain": FILE_SECRETS["plain"]}
    assert facts["multi"] == FILE_SECRETS["nested"]


def test_sdk_get_bulk_secret_without_denied(facts: dict[str, Any]) -> None:
    assert facts["bulk"]["plain"] == {"plain": FILE_SECRETS["plain"]}
    assert "denied" not in facts["bulk"]
    assert facts["env_bulk"] == {"ALLOWED": {"ALLOWED": ENV_SECRETS["ALLOWED"]}}


def test_sdk_sees_a_scoped_denial(facts: dict[str, Any]) -> None:
    assert facts["denied"]["type"] == "RpcError"
    assert facts["denied"]["code"] == "PERMISSION_DENIED"
    assert facts["denied"]["error_code"] == "ERR_PERMISSION_DENIED"


def test_sdk_error_codes(facts: dict[str, Any]) -> None:
    assert (facts["missing"]["code"], facts["missing"]["error_code"]) == (
        "NOT_FOUND",
        "ERR_SECRET_GET",
    )
    for case in ("unknown_store", "unknown_store_bulk"):
        assert (facts[case]["code"], facts[case]["error_code"]) == (
            "INVALID_ARGUMENT",
            "ERR_SECRET_STORE_NOT_FOUND",
        )


def test_this_module_loads_no_protos() -> None:
    """Importing this module (and its helpers) pulls in neither ``protos`` nor ``dapr``."""
    code = (
        "import sys, tests.integration.secrets.test_dapr_sdk\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('protos', 'dapr', 'runtime'))\n"
        "print(bad)\n"
        "raise SystemExit(1 if bad else 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
