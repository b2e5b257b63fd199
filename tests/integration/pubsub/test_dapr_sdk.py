"""The official ``dapr`` Python SDK (1.19) publishes (single and bulk) through Tandem, observed
at an HTTP app, and consumes through a streaming subscription (``DaprClient.subscribe``).

The SDK runs in a child process (``sdk_client.py``): its generated protos cannot share a process
with Tandem's (see ``tests/integration/state/test_dapr_sdk.py``). This module imports neither.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import run_sdk, sdk_facts
from tests.integration.pubsub._support import APP_ID, PubSubEnv

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "sdk_client.py"


def _sdk(env: PubSubEnv, *args: str) -> dict[str, Any]:
    return sdk_facts(run_sdk(env.sidecar, [sys.executable, str(SCRIPT), *args], timeout=90))


def test_sdk_publishes_single_and_bulk_events(env: PubSubEnv) -> None:
    facts = _sdk(env, "publish", "pubsub", "events")
    assert facts["bulk_failed"] == []
    assert facts["unknown"] == {"code": "INVALID_ARGUMENT", "error_code": "DAPR_PUBSUB_NOT_FOUND"}

    def data_of(d: dict[str, Any]) -> Any:
        return d["body"].get("data") if d["path"] == "/events" else None

    env.wait(lambda d: data_of(d) == {"sdk": "json"})
    env.wait(lambda d: data_of(d) == "sdk text")
    bulk = env.wait(lambda d: isinstance(data_of(d), dict) and "bulk" in data_of(d), count=3)
    assert sorted(data_of(d)["bulk"] for d in bulk[-3:]) == [0, 1, 2]
    assert all(d["body"]["source"] == APP_ID for d in bulk)


def test_sdk_streaming_subscription_receives_and_answers(env: PubSubEnv) -> None:
    facts = _sdk(env, "stream", "pubsub", f"stream-{env.marker()}", "5")
    assert facts["done"] == [0, 1, 2, 3, 4]
    received = facts["received"]
    assert received[0]["data"] in [{"n": n} for n in range(5)]
    # the first delivery was answered RETRY: it came again
    assert [r["data"] for r in received].count(received[0]["data"]) == 2
    assert all(r["pubsub"] == "pubsub" for r in received)
