"""Log output: readable lines by default, one JSON object per line with ``--log-as-json``; the
start-up lines (components, ports, readiness); and no secret value, ever."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tests.integration.apps import python_app
from tests.integration.harness import Sidecar, component_yaml, free_port, wait_until

pytestmark = pytest.mark.integration

SECRET = "hunter2-s3cr3t-value"
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: \S"
)


def send_garbage(port: int) -> None:
    """A malformed HTTP request (the parser rejects it) and a client that disconnects."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /v1.0/metadata HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        s.recv(1024)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /v1.0/state/statestore HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\n[")


def run_and_stop(tmp_path: Path, app_ready: Path | None = None, **kwargs: object) -> Sidecar:
    with Sidecar.start(tmp_path, **kwargs) as sc:
        sc.wait_ready()
        if app_ready is not None:  # the app has installed its SIGTERM handler
            assert wait_until(app_ready.exists, 15)
        send_garbage(sc.http_port)
        assert sc.request("GET", "/v1.0/metadata").status == 200
        assert sc.request("POST", "/v1.0/shutdown").status == 204
        assert sc.wait_exit() == 0
    return sc


def test_default_logs_are_readable_lines(tmp_path: Path) -> None:
    sc = run_and_stop(
        tmp_path,
        components=[component_yaml("statestore"), component_yaml("cache")],
        app_id="readable",
    )
    lines = sc.logs().splitlines()
    assert lines
    for line in lines:
        assert TEXT_LINE.match(line) or line.startswith((" ", "Traceback")), line
        assert not line.startswith("{"), line
    text = "\n".join(lines)
    assert "component loaded: statestore (state.in-memory/v1)" in text
    assert "component loaded: cache (state.in-memory/v1)" in text
    assert f"HTTP 127.0.0.1:{sc.http_port}" in text
    assert f"gRPC 127.0.0.1:{sc.grpc_port}" in text
    assert "tandem ready for outbound calls" in text
    assert "tandem is ready (app channel up)" in text
    assert text.count("component loaded:") == 2


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    sc = run_and_stop(
        tmp_path,
        marker,
        components=[component_yaml("statestore", metadata={"notAField": "x"})],
        app_id="jsonapp",
        args=["--log-as-json"],
        app_command=python_app("signal_trap", marker),
    )
    lines = sc.logs().splitlines()
    assert lines
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"not JSON: {line!r}\n{sc.logs()}")
        assert isinstance(record, dict), line
        records.append(record)
    for record in records:
        assert {"time", "level", "msg", "scope", "app_id"} <= set(record), record
        assert record["level"] in {"debug", "info", "warning", "error", "critical"}
        assert record["app_id"] == "jsonapp"
    messages = [r["msg"] for r in records]
    assert "component loaded: statestore (state.in-memory/v1)" in messages
    assert any(f"HTTP 127.0.0.1:{sc.http_port}" in m for m in messages)
    assert any(m.startswith("tandem ready for outbound calls") for m in messages)
    warnings = [r for r in records if r["level"] == "warning"]
    assert any("notAField" in r["msg"] for r in warnings)


def test_json_logs_while_waiting_for_the_app(tmp_path: Path) -> None:
    """The app readiness lines (waiting on the port, listening) are JSON too."""
    app_port = free_port()
    with Sidecar.start(
        tmp_path,
        empty_resources=True,
        args=["--log-as-json", "--app-port", str(app_port)],
        app_command=python_app("http_app", app_port, tmp_path / "healthy"),
    ) as sc:
        sc.wait_ready()
        assert sc.wait_for_log("app is listening", 5)
    records = [json.loads(line) for line in sc.logs().splitlines()]
    assert any(f"waiting on port {app_port}" in r["msg"] for r in records)


def test_log_level_warn_hides_info(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, empty_resources=True, args=["--log-level", "warn"]) as sc:
        sc.wait_ready()
    assert " INFO " not in sc.logs()


SECRET_COMPONENTS = [
    # an unknown metadata name: the warning names it, never its value
    component_yaml("mem", metadata={"redisPassword": SECRET}),
    # a real password field on a store whose backend is unreachable (init fails, ignored)
    component_yaml(
        "unreachable",
        "state.redis",
        {
            "redisHost": "127.0.0.1:1",
            "redisPassword": SECRET,
            "dialTimeout": "200ms",
            "maxRetries": 0,
        },
        spec={"initTimeout": "2s", "ignoreErrors": True},
    ),
    # a password inside a PostgreSQL DSN (nothing listens on port 1: init fails, ignored)
    component_yaml(
        "pg",
        "state.postgresql",
        {"connectionString": f"postgresql://postgres:{SECRET}@127.0.0.1:1/db", "timeout": "1s"},
        spec={"initTimeout": "2s", "ignoreErrors": True},
    ),
]


def test_secrets_never_logged_at_runtime(tmp_path: Path) -> None:
    with Sidecar.start(
        tmp_path,
        components=SECRET_COMPONENTS,
        args=["--log-level", "debug", "--enable-api-logging"],
        env={"REDIS_PW": SECRET, "DAPR_API_TOKEN": SECRET + "-token"},
    ) as sc:
        assert wait_until(lambda: "unreachable" in sc.logs() and "pg (" in sc.logs(), 10), sc.logs()
        headers = {"dapr-api-token": SECRET + "-token"}
        assert sc.request("GET", "/v1.0/metadata", headers=headers).status == 200
        assert sc.request("GET", "/v1.0/metadata").status == 401
    logs = sc.logs()
    assert "redisPassword" in logs  # the warning about the unknown name is there...
    assert SECRET not in logs  # ...but no value, and not the api token either


def test_secrets_never_in_start_up_errors(tmp_path: Path) -> None:
    bad = [
        component_yaml("a", metadata={"redisPassword": SECRET, "keyPrefix": "x"}),
        component_yaml("b", "state.redis", {"redisPassword": SECRET, "redisDB": "not-a-number"}),
        component_yaml("c", "state.nosuch", {"password": SECRET}),
        component_yaml("d", "state.sqlite", {"connectionString": SECRET, "timeout": "soon"}),
    ]
    sc = Sidecar.spawn(tmp_path, components=bad, args=["--log-level", "debug"])
    try:
        assert sc.wait_exit() != 0
    finally:
        sc.stop()
    out = sc.logs()
    assert "configuration error(s)" in out
    assert "redisDB" in out
    assert SECRET not in out
