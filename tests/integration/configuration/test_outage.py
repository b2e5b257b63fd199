"""A ``configuration.redis`` backend that goes away and comes back, on a private redis-server.

While Redis is down, calls fail within the component's timeout with ERR_CONFIGURATION_GET
(500 / INTERNAL) and the sidecar keeps serving; when it is back, an open gRPC subscription
resumes by itself and reports what changed meanwhile: the keys the restart lost (as deleted,
empty items; no notification could carry that) and the ones written since.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from tests.integration.configuration._grpc import Grpc
from tests.integration.harness import Sidecar, component_yaml, free_port, wait_until
from tests.integration.state._grpc import fail

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed"),
]

STORE = "redisconfig"
TIMEOUT = 1.0
WAIT = 15.0
EMPTY = {"value": "", "version": "", "metadata": {}}


def _ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def _redis(port: int, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A private redis-server (no persistence) on ``port``; stopped on exit."""
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: _ready(port), 10), "private redis-server did not start"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _cli(port: int, *args: str) -> None:
    subprocess.run(["redis-cli", "-p", str(port), *args], check=True, capture_output=True)


def test_subscription_resumes_and_reports_what_changed_while_redis_was_down(
    tmp_path: Path,
) -> None:
    port = free_port()
    component = component_yaml(
        STORE,
        "configuration.redis",
        {
            "redisHost": f"127.0.0.1:{port}",
            "dialTimeout": f"{TIMEOUT:g}s",
            "readTimeout": f"{TIMEOUT:g}s",
        },
    )
    with _redis(port, tmp_path) as server:
        _cli(port, "SET", "kept", "a||1")
        with Sidecar.start(tmp_path, components=[component]) as sc:
            rpc = Grpc(sc.grpc_target, timeout=10)
            try:
                stream = rpc.subscribe(STORE, ["kept", "later"])
                assert stream.first().id
                _cli(port, "SET", "kept", "b||2")
                assert wait_until(lambda: stream.latest().get("kept", {}).get("value") == "b", WAIT)

                server.send_signal(signal.SIGKILL)
                server.wait()
                failure = fail(rpc.get, STORE, ["kept"])
                assert failure.code == grpc.StatusCode.INTERNAL
                assert failure.error_code == "ERR_CONFIGURATION_GET"
                resp = sc.request("GET", f"/v1.0/configuration/{STORE}?key=kept")
                assert resp.status == 500
                assert resp.json()["errorCode"] == "ERR_CONFIGURATION_GET"
                assert sc.request("GET", "/v1.0/healthz/outbound").status == 204

                with _redis(port, tmp_path):  # empty: "kept" is gone
                    _cli(port, "SET", "later", "c||3")
                    assert wait_until(
                        lambda: stream.latest().get("later", {}).get("value") == "c", WAIT
                    )
                    assert wait_until(lambda: stream.latest().get("kept") == EMPTY, WAIT)
                    assert rpc.get(STORE, ["kept", "later"]) == {
                        "later": {"value": "c", "version": "3", "metadata": {}}
                    }
                    _cli(port, "SET", "kept", "d||4")  # live notifications flow again
                    assert wait_until(
                        lambda: stream.latest().get("kept", {}).get("value") == "d", WAIT
                    )
                stream.cancel()
            except AssertionError:
                print(sc.logs())
                raise
            finally:
                rpc.close()
