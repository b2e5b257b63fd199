"""The OpenFeature Python SDK against a running sidecar, with each of the three providers.

The SDK and providers run in a child process (``openfeature_client.py``): the flagd provider's
generated protos declare the same symbols as Tandem's (``flagd.evaluation.v1...``), which this
process may have loaded. This module imports neither.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.flags._support import start_with_flags

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
pytest.importorskip("openfeature.contrib.provider.ofrep")


def _run(mode: str, tmp_path: Path) -> dict[str, Any]:
    with start_with_flags(tmp_path) as (sc, path):
        out = subprocess.run(
            [
                sys.executable,
                str(HERE / "openfeature_client.py"),
                mode,
                str(sc.http_port),
                str(sc.grpc_port),
                str(path),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=90,
            check=False,
        )
    assert out.returncode == 0, out.stdout + out.stderr
    facts: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return facts


@pytest.mark.parametrize("mode", ["ofrep", "rpc", "in-process"])
def test_openfeature_sdk_evaluates_flags_and_sees_edits(mode: str, tmp_path: Path) -> None:
    facts = _run(mode, tmp_path)
    assert facts["status"] == "READY"

    def ok(name: str, value: Any, variant: str, reason: str = "STATIC") -> None:
        got = facts[name]
        assert (got["value"], got["type"], got["variant"], got["error"]) == (
            value,
            type(value).__name__,
            variant,
            None,
        ), name
        # RPC providers cache STATIC results and report them as CACHED the second time only
        assert got["reason"] == reason, name

    ok("bool", True, "on")
    ok("string", "red", "red")
    ok("int", 10, "ten")
    ok("float", 1.0, "one")
    ok("object", {"size": 3, "tags": ["a"]}, "cfg")
    ok("targeted", True, "on", "TARGETING_MATCH")
    ok("untargeted", False, "off", "TARGETING_MATCH")
    assert facts["fractional"] == {"jack": "diamonds", "queen": "diamonds", "ten": "clubs"}
    assert facts["missing"]["error"] == "FLAG_NOT_FOUND"
    assert facts["mismatch"]["error"] == "TYPE_MISMATCH"
    assert facts["mismatch"]["value"] == 7
    assert (facts["disabled"]["reason"], facts["disabled"]["error"]) == ("DISABLED", None)
    assert facts["after_edit"] == "blue"
