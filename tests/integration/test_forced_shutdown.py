"""``dapr-force-shutdown: true`` exits 1, yet still closes components and flushes spans.

Both are observed from outside the process: SQLite checkpoints its write-ahead log and removes
the ``-wal`` file when the last connection closes (a killed process leaves it behind), and the
span of the shutdown call itself (ended after the response, so still queued at that moment)
must reach the OTLP receiver.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import grpc
import pytest

from protos.dapr.runtime.v1 import dapr_pb2, dapr_pb2_grpc
from tests.integration.harness import Sidecar, component_yaml
from tests.otlp_receiver import ThreadedOtlpReceiver, tracing_config

pytestmark = pytest.mark.integration


def _sqlite(db: Path) -> str:
    return component_yaml("statestore", "state.sqlite", {"connectionString": str(db)})


def test_forced_shutdown_over_http_closes_components(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    wal = db.with_name(db.name + "-wal")
    with Sidecar.start(tmp_path, components=[_sqlite(db)]) as sc:
        saved = sc.request("POST", "/v1.0/state/statestore", '[{"key": "k", "value": 1}]')
        assert saved.status == 204
        assert wal.exists(), "the store did not use a write-ahead log"
        resp = sc.request("POST", "/v1.0/shutdown", headers={"dapr-force-shutdown": "true"})
        assert resp.status == 204
        assert sc.wait_exit() == 1
    assert not wal.exists(), sc.logs()
    assert "forced shutdown" in sc.logs()


def test_forced_shutdown_over_grpc_closes_components(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    wal = db.with_name(db.name + "-wal")
    with Sidecar.start(tmp_path, components=[_sqlite(db)]) as sc:
        assert (
            sc.request("POST", "/v1.0/state/statestore", '[{"key": "k", "value": 1}]').status == 204
        )
        with grpc.insecure_channel(sc.grpc_target) as channel:
            dapr_pb2_grpc.DaprStub(channel).Shutdown(
                dapr_pb2.ShutdownRequest(), metadata=(("dapr-force-shutdown", "true"),), timeout=5
            )
        assert sc.wait_exit() == 1
    assert not wal.exists(), sc.logs()


def test_forced_shutdown_flushes_spans(tmp_path: Path) -> None:
    with ThreadedOtlpReceiver() as receiver:
        config = tracing_config(tmp_path, receiver.grpc_endpoint)
        with Sidecar.start(tmp_path, empty_resources=True, args=["--config", str(config)]) as sc:
            trace_id = secrets.token_hex(16)
            resp = sc.request(
                "POST",
                "/v1.0/shutdown",
                headers={
                    "dapr-force-shutdown": "true",
                    "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
                },
            )
            assert resp.status == 204
            assert sc.wait_exit() == 1
        # every queued span was exported before the process ended: nothing left to wait for
        spans = [s for s in receiver.spans if s.trace_id == trace_id]
    assert [s.name for s in spans] == ["POST /v1.0/shutdown"], sc.logs()


def test_forced_shutdown_does_not_wait_for_requests_in_flight(tmp_path: Path) -> None:
    """A request in flight (its body never arrives) is cut by a forced shutdown instead of
    holding it for the grace period; components are still closed."""
    db = tmp_path / "state.db"
    wal = db.with_name(db.name + "-wal")
    with Sidecar.start(
        tmp_path, components=[_sqlite(db)], args=["--dapr-graceful-shutdown-seconds", "120"]
    ) as sc:
        saved = sc.request("POST", "/v1.0/state/statestore", '[{"key": "k", "value": 1}]')
        assert saved.status == 204
        with socket.create_connection(("127.0.0.1", sc.http_port), timeout=60) as s:
            s.sendall(
                b"PUT /v1.0/metadata/never HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            )
            assert s.recv(100).startswith(b"HTTP/1.1 100")  # its handler waits for the body
            resp = sc.request("POST", "/v1.0/shutdown", headers={"dapr-force-shutdown": "true"})
            assert resp.status == 204
            # a drain would hold the process for the 120 s grace period: the deadline is far
            # below it, and the in-flight request never gets an answer
            assert sc.wait_exit(timeout=30) == 1, sc.logs()
            assert s.recv(100) == b""
    assert not wal.exists(), sc.logs()
