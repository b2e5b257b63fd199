"""The official ``dapr`` SDK's ``invoke_method`` through two Tandem sidecars, over HTTP (the
default, verb GET when none is given) and with ``DAPR_API_METHOD_INVOCATION_PROTOCOL=grpc``;
the callee is an aiohttp app, and a ``dapr.ext.grpc.App``. The SDK runs in a child process
(``sdk_invoke.py``): its protos cannot share a process with Tandem's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.invoke.conftest import Mesh

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "sdk_invoke.py"


def _run(mesh: Mesh, protocol: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "DAPR_RUNTIME_HOST": "127.0.0.1",
        "DAPR_HTTP_PORT": str(mesh.alpha.http_port),
        "DAPR_GRPC_PORT": str(mesh.alpha.grpc_port),
        "DAPR_API_METHOD_INVOCATION_PROTOCOL": protocol,
        "DAPR_HEALTH_TIMEOUT": "10",
    }
    env.pop("DAPR_API_TOKEN", None)
    out = subprocess.run(
        [sys.executable, str(SCRIPT), protocol],
        capture_output=True,
        text=True,
        env=env,
        cwd=HERE.parents[2],
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, f"sdk_invoke failed:\n{out.stdout}\n{out.stderr}"
    facts: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return facts


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
