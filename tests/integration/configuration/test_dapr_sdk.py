"""The official ``dapr`` Python SDK (1.19) reads configuration and receives a change over
gRPC (``get_configuration``, ``subscribe_configuration`` on the Alpha1 stream,
``unsubscribe_configuration``). The SDK runs in a child process (``sdk_client.py``): its
generated protos cannot share a process with Tandem's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.integration.configuration._support import STORE, ConfigEnv
from tests.integration.harness import run_sdk, wait_until

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


def test_sdk_gets_and_watches_configuration(env: ConfigEnv, tmp_path: Path) -> None:
    (key,) = env.keys(1)
    env.write({key: "old"})
    assert wait_until(lambda: env.http(f"/v1.0/configuration/{STORE}?key={key}").status == 200, 10)
    facts_file = tmp_path / "facts.json"
    script = str(HERE / "sdk_client.py")
    run_sdk(env.sidecar, [sys.executable, script, STORE, str(env.file), key, str(facts_file)])
    facts = json.loads(facts_file.read_text(encoding="utf-8"))
    assert facts["get"] == {key: ["old", "1"]}
    assert facts["get_missing"] == {}
    assert facts["subscribed"]
    assert facts["arrived"], facts
    assert {"id": facts["sub_id"], "key": key, "value": "new", "version": "2"} in facts["seen"]
    assert facts["unsubscribed"] is True
