"""Start a real ``tandem`` process on free ports and talk to it.

    with Sidecar.start(tmp_path, components=[...yaml text...]) as sc:
        requests to sc.http_url / sc.grpc_target

Every sidecar gets its own TANDEM_HOME under ``tmp_path``, so tests never share data unless
they point components at the same server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Sidecar", "free_port", "wait_until"]

STARTUP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(predicate: object, timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False


def http_status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback)
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


@dataclass
class Sidecar:
    proc: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    home: Path
    log_path: Path
    app_id: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    @classmethod
    def spawn(
        cls,
        tmp_path: Path,
        *,
        components: Sequence[str] = (),
        app_id: str = "testapp",
        args: Sequence[str] = (),
        app_command: Sequence[str] = (),
        env: dict[str, str] | None = None,
        use_defaults: bool = False,
    ) -> Sidecar:
        """Start without waiting for readiness."""
        home = tmp_path / "home"
        home.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "runtime", "run", "--app-id", app_id]
        http_port, grpc_port = free_port(), free_port()
        cmd += ["--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port),
                "--metrics-port", str(free_port())]
        if components and not use_defaults:
            res = tmp_path / "resources"
            res.mkdir(exist_ok=True)
            for i, text in enumerate(components):
                (res / f"component{i}.yaml").write_text(text)
            cmd += ["--resources-path", str(res)]
        cmd += list(args)
        if app_command:
            cmd += ["--", *app_command]
        full_env = {**os.environ, "TANDEM_HOME": str(home), **(env or {})}
        log_path = tmp_path / f"tandem-{http_port}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                    cwd=Path(__file__).resolve().parents[2])
        return cls(proc, http_port, grpc_port, home, log_path, app_id, full_env)

    @classmethod
    @contextlib.contextmanager
    def start(cls, tmp_path: Path, **kwargs: object) -> Iterator[Sidecar]:
        """Start and wait for ``/v1.0/healthz/outbound``; stop on exit."""
        sc = cls.spawn(tmp_path, **kwargs)  # type: ignore[arg-type]
        try:
            sc.wait_outbound()
            yield sc
        finally:
            sc.stop()

    def wait_outbound(self, timeout: float = STARTUP_TIMEOUT) -> None:
        url = f"{self.http_url}/v1.0/healthz/outbound"
        ok = wait_until(lambda: http_status(url) == 204 or self.proc.poll() is not None, timeout)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise AssertionError(f"tandem did not become ready:\n{self.logs()}")

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
