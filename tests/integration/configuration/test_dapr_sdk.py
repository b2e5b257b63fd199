"""The official ``dapr`` Python SDK (1.19) reads configuration and receives a change over
gRPC (``get_configuration``, ``subscribe_configuration`` on the Alpha1 stream,
``unsubscribe_configuration``). The SDK runs in a child process (``sdk_client.py``): its
generated protos cannot share a process with Tandem's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.configuration._support import STORE, ConfigEnv
from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def test_sdk_gets_and_watches_configuration(env: ConfigEnv, tmp_path: Path) -> None:
    (key,) = env.keys(1)
    env.write({key: "old"})
    assert wait_until(lambda: env.http(f"/v1.0/configuration/{STORE}?key={key}").status == 200, 10)
    child_env = {
        **os.environ,
        "DAPR_RUNTIME_HOST": "127.0.0.1",
        "DAPR_HTTP_PORT": str(env.sidecar.http_port),
        "DAPR_GRPC_PORT": str(env.sidecar.grpc_port),
        "DAPR_HEALTH_TIMEOUT": "10",
    }
    child_env.pop("DAPR_API_TOKEN", None)
    facts_file = tmp_path / "facts.json"
    out = subprocess.run(
        [sys.executable, str(HERE / "sdk_client.py"), STORE, str(env.file), key, str(facts_file)],
        capture_output=True,
        text=True,
        env=child_env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, f"sdk_client failed:\n{out.stdout}\n{out.stderr}"
    facts = json.loads(facts_file.read_text(encoding="utf-8"))
    assert facts["get"] == {key: ["old", "1"]}
    assert facts["get_missing"] == {}
    assert facts["subscribed"]
    assert facts["arrived"], facts
    assert {"id": facts["sub_id"], "key": key, "value": "new", "version": "2"} in facts["seen"]
    assert facts["unsubscribed"] is True
