"""The official ``dapr`` SDK's ``invoke_method`` through two Tandem sidecars, over HTTP (the
default, verb GET when none is given) and with ``DAPR_API_METHOD_INVOCATION_PROTOCOL=grpc``;
the callee is an aiohttp app, and a ``dapr.ext.grpc.App``. The SDK runs in a child process
(``sdk_invoke.py``): its protos cannot share a process with Tandem's."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import run_sdk, sdk_facts
from tests.integration.invoke.conftest import Mesh

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "sdk_invoke.py"


def _run(mesh: Mesh, protocol: str) -> dict[str, Any]:
    env = {"DAPR_API_METHOD_INVOCATION_PROTOCOL": protocol}
    return sdk_facts(run_sdk(mesh.alpha, [sys.executable, str(SCRIPT), protocol], env=env))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_sdk_invoke_method(mesh: Mesh, protocol: str) -> None:
    facts = _run(mesh, protocol)
    post = facts["post"]
    assert post["method"] == "POST"
    assert post["path"] == "/echo/sdk"
    assert json.loads(post["body"]) == {"n": 1}
    assert post["headers"]["dapr-caller-app-id"] == "alpha"
    assert facts["grpc_callee"]["data"] == "from-sdk"
    if protocol == "http":
        assert facts["default_verb"] == "GET"
        assert "nosuchapp" in facts["unknown"]
