"""The app channel inside a real sidecar: health probes go through it.

A gRPC app (the official SDK's ``dapr.ext.grpc.App``) is probed with
``AppCallbackHealthCheck``, so ``/v1.0/healthz`` follows the app's own health callback, not just
its port; an HTTP app's probe carries ``APP_API_TOKEN``.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.apps import python_app
from tests.integration.harness import Sidecar, free_port, wait_until


def healthz(sc: Sidecar) -> int:
    return sc.request("GET", "/v1.0/healthz").status


def probe_flags(app_port: int, protocol: str) -> list[str]:
    return [
        "--app-port",
        str(app_port),
        "--app-protocol",
        protocol,
        "--enable-app-health-check",
        "--app-health-probe-interval",
        "0.05",
        "--app-health-threshold",
        "1",
        "--app-max-concurrency",
        "4",
    ]


def test_grpc_app_health_follows_app_callback_health_check(tmp_path: Path) -> None:
    app_port = free_port()
    healthy = tmp_path / "healthy"  # absent: the app listens but its health check fails
    with Sidecar.start(
        tmp_path,
        empty_resources=True,
        args=probe_flags(app_port, "grpc"),
        app_command=python_app("grpc_callback_app", app_port, tmp_path / "events", healthy),
    ) as sc:
        assert sc.wait_for_log("app is listening", 30), sc.logs()
        assert healthz(sc) == 500  # the port is open, but HealthCheck fails
        healthy.touch()
        assert wait_until(lambda: healthz(sc) == 204, 15), sc.logs()
        healthy.unlink()
        assert wait_until(lambda: healthz(sc) == 500, 15), sc.logs()
        healthy.touch()
        assert wait_until(lambda: healthz(sc) == 204, 15), sc.logs()


def test_http_app_health_probe_carries_the_app_token(tmp_path: Path) -> None:
    app_port = free_port()
    tokens = tmp_path / "tokens"
    with Sidecar.start(
        tmp_path,
        empty_resources=True,
        args=probe_flags(app_port, "http"),
        env={"APP_API_TOKEN": "app-secret"},
        app_command=python_app("token_app", app_port, tokens),
    ) as sc:
        assert wait_until(lambda: healthz(sc) == 204, 30), sc.logs()
    assert "app-secret" in tokens.read_text().splitlines()
