"""A ``configuration.redis`` backend that goes away and comes back, on a private redis-server.

While Redis is down, calls fail within the component's timeout with ERR_CONFIGURATION_GET
(500 / INTERNAL) and the sidecar keeps serving; when it is back, an open gRPC subscription
resumes by itself and reports what changed meanwhile: the keys the restart lost (as deleted,
empty items; no notification could carry that) and the ones written since.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest

from tests.brokers.private import private_redis
from tests.integration.configuration._grpc import Grpc
from tests.integration.harness import Sidecar, component_yaml, wait_until
from tests.integration.state._grpc import fail

pytestmark = pytest.mark.integration

STORE = "redisconfig"
TIMEOUT = 1.0
WAIT = 15.0
EMPTY = {"value": "", "version": "", "metadata": {}}


def _cli(port: int, *args: str) -> None:
    subprocess.run(["redis-cli", "-p", str(port), *args], check=True, capture_output=True)


def test_subscription_resumes_and_reports_what_changed_while_redis_was_down(
    tmp_path: Path,
) -> None:
    server = private_redis(tmp_path / "redis")
    port = server.port
    component = component_yaml(
        STORE,
        "configuration.redis",
        {
            "redisHost": f"127.0.0.1:{port}",
            "dialTimeout": f"{TIMEOUT:g}s",
            "readTimeout": f"{TIMEOUT:g}s",
        },
    )
    with server:
        _cli(port, "SET", "kept", "a||1")
        with Sidecar.start(tmp_path, components=[component]) as sc:
            rpc = Grpc(sc.grpc_target, timeout=10)
            try:
                stream = rpc.subscribe(STORE, ["kept", "later"])
                assert stream.first().id
                _cli(port, "SET", "kept", "b||2")
                assert wait_until(lambda: stream.latest().get("kept", {}).get("value") == "b", WAIT)

                server.stop()
                failure = fail(rpc.get, STORE, ["kept"])
                assert failure.code == grpc.StatusCode.INTERNAL
                assert failure.error_code == "ERR_CONFIGURATION_GET"
                resp = sc.request("GET", f"/v1.0/configuration/{STORE}?key=kept")
                assert resp.status == 500
                assert resp.json()["errorCode"] == "ERR_CONFIGURATION_GET"
                assert sc.request("GET", "/v1.0/healthz/outbound").status == 204

                with server:  # started again, empty: "kept" is gone
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
