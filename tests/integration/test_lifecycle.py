"""The sidecar lives and dies with its app; start-up readiness; graceful shutdown.

Drain coverage: ``test_in_flight_request_completes_during_drain`` holds the SQLite write lock
from the test, so a state save is in flight (its handler waits for the lock) when SIGTERM
arrives; the lock is released only once the sidecar logs that it is draining, and the save must
still answer 204 and be stored. ``test_upload_in_flight_completes_during_drain`` does the same
with a request whose body is still being sent (``Expect: 100-continue``: aiohttp answers
``100 Continue`` from inside the request's handler). Not covered: gRPC drain (no RPC can be held
open from outside, every one answers at once).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
from pathlib import Path

import grpc
import pytest

from protos.dapr.runtime.v1 import dapr_pb2, dapr_pb2_grpc
from tests.integration.apps import python_app
from tests.integration.harness import (
    Sidecar,
    component_yaml,
    free_port,
    http_status,
    wait_until,
)

pytestmark = pytest.mark.integration


def read_env(path: Path) -> dict[str, str]:
    assert wait_until(path.exists, 15), "the app never wrote its environment"
    env: dict[str, str] = json.loads(path.read_text())
    return env


def signals_seen(marker: Path) -> list[str]:
    return marker.read_text().split()[1:] if marker.exists() else []


def app_is_ready(marker: Path) -> bool:
    return marker.exists() and marker.read_text().startswith("ready")


# the app's environment and exit code -----------------------------------------------------------


def test_app_gets_dapr_environment(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    app_port = free_port()
    sc = Sidecar.spawn(
        tmp_path,
        app_id="envapp",
        empty_resources=True,
        args=["--app-port", str(app_port)],
        app_command=python_app("env_dump", out),
    )
    try:
        env = read_env(out)
        assert sc.wait_exit() == 0
    finally:
        sc.stop()
    assert env["APP_ID"] == "envapp"
    assert env["APP_PORT"] == str(app_port)
    assert env["DAPR_HTTP_PORT"] == str(sc.http_port)
    assert env["DAPR_GRPC_PORT"] == str(sc.grpc_port)
    if "DAPR_API_TOKEN" not in os.environ:
        assert "DAPR_API_TOKEN" not in env
    for own in ("GRPC_ENABLE_FORK_SUPPORT", "PYDANTIC_DISABLE_PLUGINS"):
        if own not in os.environ:  # the sidecar's own settings stay its own
            assert own not in env
    assert env["TANDEM_HOME"] == str(sc.home)  # the sidecar's own environment is inherited


def test_app_gets_api_token_from_env(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    sc = Sidecar.spawn(
        tmp_path,
        empty_resources=True,
        env={"DAPR_API_TOKEN": "tok-from-env"},
        app_command=python_app("env_dump", out),
    )
    try:
        assert read_env(out)["DAPR_API_TOKEN"] == "tok-from-env"
        assert "APP_PORT" not in read_env(out)
        assert sc.wait_exit() == 0
    finally:
        sc.stop()


def test_app_gets_api_token_from_token_file(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    token_file = tmp_path / "token"
    token_file.write_text("tok-from-file\n")
    token_file.chmod(0o600)
    sc = Sidecar.spawn(
        tmp_path,
        empty_resources=True,
        args=["--api-token-file", str(token_file)],
        app_command=python_app("env_dump", out),
    )
    try:
        assert read_env(out)["DAPR_API_TOKEN"] == "tok-from-file"
        sc.wait_exit()
    finally:
        sc.stop()


def test_app_exit_code_is_the_sidecar_exit_code(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    sc = Sidecar.spawn(tmp_path, empty_resources=True, app_command=python_app("env_dump", out, 3))
    try:
        assert sc.wait_exit() == 3
    finally:
        sc.stop()
    assert "app exited with code 3" in sc.logs()


def test_app_killed_by_a_signal(tmp_path: Path) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    sc = Sidecar.spawn(tmp_path, empty_resources=True, app_command=["python3", "-c", code])
    try:
        assert sc.wait_exit() == 128 + signal.SIGKILL
    finally:
        sc.stop()


def test_app_exit_zero_stops_the_apis(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    script = (
        f"import pathlib, time\nwhile not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.01)"
    )
    sc = Sidecar.spawn(tmp_path, empty_resources=True, app_command=["python3", "-c", script])
    try:
        sc.wait_outbound()
        assert sc.proc.poll() is None
        gate.touch()
        assert sc.wait_exit() == 0
        assert http_status(f"{sc.http_url}/v1.0/healthz/outbound") is None
    finally:
        sc.stop()


# signals and the shutdown API -------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_signal_reaches_the_app_once(tmp_path: Path, sig: signal.Signals) -> None:
    marker = tmp_path / "marker"
    sc = Sidecar.spawn(
        tmp_path, empty_resources=True, app_command=python_app("signal_trap", marker)
    )
    try:
        sc.wait_outbound()
        assert wait_until(lambda: app_is_ready(marker), 15)
        sc.signal(sig)
        assert sc.wait_exit() == 0  # the app's exit code
    finally:
        sc.stop()
    assert signals_seen(marker) == [sig.name]
    assert f"received {sig.name}" in sc.logs()


def test_sigterm_without_app(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, empty_resources=True) as sc:
        sc.signal(signal.SIGTERM)
        assert sc.wait_exit() == 0


def test_app_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = (
        "import pathlib, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(60)\n"
    )
    sc = Sidecar.spawn(
        tmp_path,
        empty_resources=True,
        args=["--dapr-graceful-shutdown-seconds", "0.5"],
        app_command=["python3", "-c", script],
    )
    try:
        sc.wait_outbound()
        assert wait_until(ready.exists, 15)
        sc.signal(signal.SIGTERM)
        # the app would sleep 60 s: exiting before the deadline means it was killed
        assert sc.wait_exit(timeout=30) == 128 + signal.SIGKILL
    finally:
        sc.stop()
    assert "did not exit within" in sc.logs()


def test_shutdown_api_ends_sidecar_and_app(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    sc = Sidecar.spawn(
        tmp_path, empty_resources=True, app_command=python_app("signal_trap", marker)
    )
    try:
        sc.wait_outbound()
        assert wait_until(lambda: app_is_ready(marker), 15)
        resp = sc.request("POST", "/v1.0/shutdown")
        assert resp.status == 204
        assert resp.body == b""
        assert sc.wait_exit() == 0
    finally:
        sc.stop()
    assert signals_seen(marker) == ["SIGTERM"]


def test_shutdown_api_without_app(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, empty_resources=True) as sc:
        assert sc.request("POST", "/v1.0/shutdown").status == 204
        assert sc.wait_exit() == 0


def test_shutdown_api_wrong_method(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, empty_resources=True) as sc:
        resp = sc.request("GET", "/v1.0/shutdown")
        assert 400 <= resp.status < 500
        assert sc.proc.poll() is None


def test_grpc_shutdown_ends_sidecar_and_app(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    sc = Sidecar.spawn(
        tmp_path, empty_resources=True, app_command=python_app("signal_trap", marker)
    )
    try:
        sc.wait_outbound()
        assert wait_until(lambda: app_is_ready(marker), 15)
        with grpc.insecure_channel(sc.grpc_target) as channel:
            dapr_pb2_grpc.DaprStub(channel).Shutdown(dapr_pb2.ShutdownRequest(), timeout=5)
        assert sc.wait_exit() == 0
    finally:
        sc.stop()
    assert signals_seen(marker) == ["SIGTERM"]


def test_forced_shutdown_exits_1(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, empty_resources=True) as sc:
        resp = sc.request("POST", "/v1.0/shutdown", headers={"dapr-force-shutdown": "true"})
        assert resp.status == 204
        assert sc.wait_exit() == 1


# in-flight requests drain ------------------------------------------------------------------


def sqlite_store(db: Path) -> str:
    return component_yaml(
        "statestore", "state.sqlite", {"connectionString": str(db), "timeout": "20s"}
    )


def send_save(port: int, key: str, value: str) -> socket.socket:
    """Send ``POST /v1.0/state/statestore``; returns once its handler has started."""
    body = json.dumps([{"key": key, "value": value}]).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(
        b"POST /v1.0/state/statestore HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    # aiohttp answers 100 Continue from inside the request's handler task
    assert s.recv(100).startswith(b"HTTP/1.1 100"), "the handler never started"
    s.sendall(body)
    return s


def read_response(s: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_in_flight_request_completes_during_drain(tmp_path: Path) -> None:
    """A save blocked on the SQLite write lock when SIGTERM arrives still completes."""
    db = tmp_path / "state.db"
    with Sidecar.start(
        tmp_path,
        components=[sqlite_store(db)],
        args=["--dapr-graceful-shutdown-seconds", "10"],
    ) as sc:
        warmup = sc.request("POST", "/v1.0/state/statestore", '[{"key": "w", "value": 1}]')
        assert warmup.status == 204
        lock = sqlite3.connect(db, isolation_level=None, timeout=5)
        try:
            lock.execute("BEGIN IMMEDIATE")  # the sidecar's write now waits for the lock
            s = send_save(sc.http_port, "drained", "yes")
            with s:
                sc.signal(signal.SIGTERM)
                assert sc.wait_for_log("draining", 10), sc.logs()
                assert sc.proc.poll() is None
                lock.execute("ROLLBACK")
                response = read_response(s)
        finally:
            lock.close()
        assert response.startswith(b"HTTP/1.1 204"), response
        assert sc.wait_exit() == 0
    with contextlib.closing(sqlite3.connect(db)) as check:
        rows = check.execute("SELECT key FROM state WHERE key LIKE '%drained'").fetchall()
    assert rows == [("testapp||drained",)]


def test_upload_in_flight_completes_during_drain(tmp_path: Path) -> None:
    """A request still receiving its body when SIGTERM arrives completes."""
    with Sidecar.start(
        tmp_path, empty_resources=True, args=["--dapr-graceful-shutdown-seconds", "10"]
    ) as sc:
        with socket.create_connection(("127.0.0.1", sc.http_port), timeout=15) as s:
            s.sendall(
                b"PUT /v1.0/metadata/drain HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            )
            assert s.recv(100).startswith(b"HTTP/1.1 100")  # the handler waits for the body
            sc.signal(signal.SIGTERM)
            assert sc.wait_for_log("draining", 10), sc.logs()
            assert sc.proc.poll() is None
            s.sendall(b"hello")
            response = read_response(s)
        assert response.startswith(b"HTTP/1.1 204"), response
        assert sc.wait_exit() == 0


def test_drain_is_bounded_by_the_grace_period(tmp_path: Path) -> None:
    """A request that never completes (its body never arrives) does not hold the shutdown."""
    with Sidecar.start(
        tmp_path, empty_resources=True, args=["--dapr-graceful-shutdown-seconds", "0.5"]
    ) as sc:
        s = socket.create_connection(("127.0.0.1", sc.http_port), timeout=10)
        with s:
            s.sendall(
                b"PUT /v1.0/metadata/never HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
            )
            assert s.recv(100).startswith(b"HTTP/1.1 100")  # the handler waits for the body
            sc.signal(signal.SIGTERM)
            # the request never completes: exiting at all means the drain was cut short
            assert sc.wait_exit(timeout=30) == 0
            assert s.recv(100) == b""  # cut, unanswered


# readiness: /v1.0/healthz/outbound vs /v1.0/healthz ------------------------------------------


def error_code(sc: Sidecar, path: str) -> tuple[int, str | None]:
    resp = sc.request("GET", path)
    if resp.status == 204:
        return 204, None
    return resp.status, resp.json()["errorCode"]


def test_healthz_waits_for_the_app_port(tmp_path: Path) -> None:
    app_port = free_port()
    gate = tmp_path / "gate"
    healthy = tmp_path / "healthy"
    with Sidecar.start(
        tmp_path,
        empty_resources=True,
        args=["--app-port", str(app_port)],
        app_command=python_app("http_app", app_port, healthy, gate),
    ) as sc:
        assert error_code(sc, "/v1.0/healthz/outbound") == (204, None)
        assert error_code(sc, "/v1.0/healthz") == (500, "ERR_HEALTH_NOT_READY")
        assert "app" in sc.request("GET", "/v1.0/healthz").json()["message"]
        gate.touch()  # the app starts listening
        assert wait_until(lambda: error_code(sc, "/v1.0/healthz")[0] == 204, 15), sc.logs()
        assert sc.wait_for_log("tandem is ready (app channel up)", 5)


def test_healthz_waits_for_a_port_opened_by_anyone(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        app_port = listener.getsockname()[1]
        with Sidecar.start(
            tmp_path, empty_resources=True, args=["--app-port", str(app_port)]
        ) as sc:
            assert error_code(sc, "/v1.0/healthz") == (500, "ERR_HEALTH_NOT_READY")
            listener.listen()
            assert wait_until(lambda: error_code(sc, "/v1.0/healthz")[0] == 204, 15)


def test_healthz_without_app_port_is_ready_at_once(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, empty_resources=True) as sc:
        sc.wait_ready(timeout=5)


def test_healthz_appid_mismatch(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, empty_resources=True, app_id="me") as sc:
        sc.wait_ready(timeout=5)
        assert error_code(sc, "/v1.0/healthz?appid=me") == (204, None)
        assert error_code(sc, "/v1.0/healthz?appid=you") == (500, "ERR_HEALTH_APPID_NOT_MATCH")


def test_healthz_follows_app_health_checks(tmp_path: Path) -> None:
    app_port = free_port()
    healthy = tmp_path / "healthy"
    with Sidecar.start(
        tmp_path,
        empty_resources=True,
        args=[
            "--app-port",
            str(app_port),
            "--enable-app-health-check",
            "--app-health-probe-interval",
            "0.05",
            "--app-health-threshold",
            "2",
        ],
        app_command=python_app("http_app", app_port, healthy),
    ) as sc:
        assert error_code(sc, "/v1.0/healthz/outbound") == (204, None)
        # the app listens but /healthz answers 503
        assert sc.wait_for_log("app is listening", 15)
        assert error_code(sc, "/v1.0/healthz") == (500, "ERR_HEALTH_NOT_READY")
        healthy.touch()
        assert wait_until(lambda: error_code(sc, "/v1.0/healthz")[0] == 204, 15), sc.logs()
        healthy.unlink()
        assert wait_until(lambda: error_code(sc, "/v1.0/healthz")[0] == 500, 15), sc.logs()
        assert error_code(sc, "/v1.0/healthz/outbound") == (204, None)
        healthy.touch()
        assert wait_until(lambda: error_code(sc, "/v1.0/healthz")[0] == 204, 15), sc.logs()
    logs = sc.logs()
    assert "app is unhealthy" in logs
    assert "app is healthy" in logs
