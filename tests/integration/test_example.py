"""The README's main job: the orders example beside a sidecar on the embedded defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.harness import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_orders_example_runs_against_embedded_defaults(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "runtime",
        "run",
        "--app-id",
        "orders",
        "--dapr-http-port",
        str(free_port()),
        "--dapr-grpc-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--",
        sys.executable,
        str(ROOT / "examples" / "orders" / "app.py"),
        "--once",
    ]
    env = {**os.environ, "TANDEM_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "saved 3 orders -> 204" in out
    assert "now stale, etag -> 409 ERR_STATE_SAVE" in out
    assert "keys -> ['order-1', 'order-3', 'order-4']" in out
    assert "'qty': 5}, {'id': 1, 'item': 'tea', 'qty': 3}]" in out
    assert (tmp_path / "home" / "data" / "state.db").is_file()
