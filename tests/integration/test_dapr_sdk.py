"""The official ``dapr`` Python SDK (1.19) against a real sidecar: client start-up, metadata,
API token, shutdown.

The SDK runs in a child process (``apps/sdk_probe.py``): its generated protos and Tandem's
(``protos.*``, loaded into this pytest process by other modules and by ``runtime``) declare the
same protobuf symbols and cannot share one process. This module imports neither ``dapr`` nor
``protos`` nor ``runtime`` (``test_this_module_imports_no_protos`` guards it). The child gets
DAPR_HTTP_PORT/DAPR_GRPC_PORT (and DAPR_API_TOKEN) in its environment, which the SDK reads at
import, exactly as an app started by ``tandem run`` does.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.apps import python_app
from tests.integration.harness import Sidecar, component_yaml, run_sdk, sdk_facts

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("dapr") is None, reason="dapr SDK not installed"),
]

TOKEN = "sdk-token"


def sdk(sc: Sidecar, *args: str, token: str | None = None) -> dict[str, Any]:
    env = {"DAPR_API_TOKEN": token} if token is not None else {}
    lines = run_sdk(sc, python_app("sdk_probe", *args), env=env)
    out = sdk_facts(lines)
    before = lines[:-1]
    # the SDK prints a line per failed attempt of its start-up health check (then waits, retries)
    out["health_check_failures"] = [line for line in before if "health check" in line.lower()]
    return out


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("sdk")
    components = [component_yaml("statestore"), component_yaml("cache")]
    with Sidecar.start(tmp, components=components, app_id="sdk-app") as sc:
        yield sc


def test_this_module_imports_no_protos() -> None:
    tree = ast.parse(Path(__file__).read_text())
    names = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    for name in names:
        assert name.split(".")[0] not in {"dapr", "protos", "runtime"}, name


def test_client_constructs_without_waiting(sidecar: Sidecar) -> None:
    out = sdk(sidecar, "construct")
    assert "error" not in out, out
    assert out["health_check_failures"] == [], out  # ready at the first attempt


def test_get_metadata(sidecar: Sidecar) -> None:
    out = sdk(sidecar, "metadata")
    assert "error" not in out, out
    assert out["id"] == "sdk-app"
    components = {c["name"]: c for c in out["components"]}
    assert set(components) == {"statestore", "cache"}
    for c in components.values():
        assert (c["type"], c["version"]) == ("state.in-memory", "v1")
        assert {"ETAG", "TRANSACTIONAL"} <= set(c["capabilities"])
    assert out["extended"]["daprRuntimeVersion"]


def test_set_metadata(sidecar: Sidecar) -> None:
    out = sdk(sidecar, "set-metadata", "fromSdk", "yes")
    assert "error" not in out, out
    assert out["extended"]["fromSdk"] == "yes"
    assert sidecar.request("GET", "/v1.0/metadata").json()["extended"]["fromSdk"] == "yes"


def test_api_token_from_environment(tmp_path: Path) -> None:
    with Sidecar.start(
        tmp_path, empty_resources=True, app_id="tok", env={"DAPR_API_TOKEN": TOKEN}
    ) as sc:
        ok = sdk(sc, "metadata", token=TOKEN)
        assert "error" not in ok, ok
        assert ok["id"] == "tok"
        wrong = sdk(sc, "metadata", token="not-the-token")
        assert wrong["error"]["code"] == "StatusCode.UNAUTHENTICATED", wrong
        # without a token the SDK's start-up health check still passes (healthz is exempt)...
        missing = sdk(sc, "metadata")
        assert missing["health_check_failures"] == [], missing
        # ...but the call is refused
        assert missing["error"]["code"] == "StatusCode.UNAUTHENTICATED", missing


def test_app_started_by_tandem_gets_what_the_sdk_needs(tmp_path: Path) -> None:
    """An SDK app run as ``tandem run -- app`` finds the sidecar through the environment."""
    out_file = tmp_path / "out.json"
    probe = str(Path(__file__).parent / "apps" / "sdk_probe.py")
    script = (
        "import json, subprocess, sys\n"
        f"r = subprocess.run([sys.executable, {probe!r}, 'metadata'],"
        " capture_output=True, text=True)\n"
        f"open({str(out_file)!r}, 'w').write(r.stdout)\n"
    )
    sc = Sidecar.spawn(
        tmp_path,
        empty_resources=True,
        app_id="child-app",
        env={"DAPR_API_TOKEN": TOKEN},
        app_command=[sys.executable, "-c", script],
    )
    try:
        assert sc.wait_exit(timeout=60) == 0, sc.logs()
    finally:
        sc.stop()
    out = json.loads(out_file.read_text().strip().splitlines()[-1])
    assert "error" not in out, out
    assert out["id"] == "child-app"


def test_shutdown_stops_the_sidecar(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, empty_resources=True, app_id="bye") as sc:
        out = sdk(sc, "shutdown")
        assert "error" not in out, out
        assert sc.wait_exit() == 0
