"""Start a real ``tandem`` process on free ports and talk to it.

    with Sidecar.start(tmp_path, components=[...yaml text...]) as sc:
        requests to sc.http_url / sc.grpc_target

Every sidecar gets its own TANDEM_HOME under ``tmp_path``, so tests never share data unless
they point components at the same server. ``Sidecar.start`` waits for
``/v1.0/healthz/outbound`` and always stops the process; ``Sidecar.spawn`` only starts it (for
tests of start-up failures and exits, with ``wait_exit``). ``run_tandem`` runs a short
command (``--version``, ``validate``) to completion.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.waiting import wait_until

__all__ = [
    "LOOPBACK",
    "REPO_ROOT",
    "Response",
    "Sidecar",
    "component_yaml",
    "free_port",
    "http_request",
    "http_status",
    "listening_addresses",
    "run_sdk",
    "run_tandem",
    "sdk_facts",
    "wait_until",
]

STARTUP_TIMEOUT = 20.0
REPO_ROOT = Path(__file__).resolve().parents[2]
# Start-up attempts when a port picked by free_port() was taken by someone else meanwhile.
_PORT_RACE_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


LOOPBACK = {
    "0100007F",  # 127.0.0.1
    "0000000000000000FFFF00000100007F",  # ::ffff:127.0.0.1 (gRPC's dual-stack socket)
    "00000000000000000000000001000000",  # ::1
}


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket in LISTEN state on ``port`` (from /proc/net/tcp*)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":
                found.add(address)
    return found


def http_status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-cased names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    timeout: float = 10.0,
    host: str = "127.0.0.1",
) -> Response:
    """One request on a fresh connection; ``path`` is sent as given (no quoting)."""
    data = body.encode() if isinstance(body, str) else body
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=dict(headers or {}))
        resp = conn.getresponse()
        payload = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
    finally:
        conn.close()


def component_yaml(
    name: str,
    type_: str = "state.in-memory",
    metadata: Mapping[str, object] | None = None,
    *,
    scopes: Sequence[str] = (),
    spec: Mapping[str, object] | None = None,
) -> str:
    """A Component resource as YAML text (JSON is YAML); ``metadata`` values as given."""
    doc: dict[str, Any] = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name},
        "spec": {
            "type": type_,
            "version": "v1",
            "metadata": [{"name": k, "value": v} for k, v in (metadata or {}).items()],
            **(spec or {}),
        },
    }
    if scopes:
        doc["scopes"] = list(scopes)
    return json.dumps(doc, indent=2) + "\n"


def _tandem_command() -> list[str]:
    return [sys.executable, "-m", "runtime"]


def run_sdk(
    sidecar: Sidecar,
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> list[str]:
    """Run ``command``, a program using the official ``dapr`` SDK, against ``sidecar``; the
    lines of its output (the last: its JSON facts, by convention); a failure fails the test.

    A child process: the SDK's generated protos and Tandem's declare the same protobuf symbols
    and cannot share one. It gets the sidecar's address as the SDK reads it at import
    (DAPR_RUNTIME_HOST, DAPR_HTTP_PORT, DAPR_GRPC_PORT, DAPR_HEALTH_TIMEOUT 10 s), no other
    DAPR_* variable of this process, and ``env`` on top.
    """
    child = {k: v for k, v in os.environ.items() if not k.startswith("DAPR_")}
    child |= {
        "DAPR_RUNTIME_HOST": "127.0.0.1",
        "DAPR_HTTP_PORT": str(sidecar.http_port),
        "DAPR_GRPC_PORT": str(sidecar.grpc_port),
        "DAPR_HEALTH_TIMEOUT": "10",
        **(env or {}),
    }
    out = subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        env=child,
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, f"{' '.join(command[1:])} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout.strip().splitlines()


def sdk_facts(lines: list[str]) -> dict[str, Any]:
    """The JSON object an SDK program printed last (``run_sdk``)."""
    facts: dict[str, Any] = json.loads(lines[-1])
    return facts


def run_tandem(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    home: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``tandem <args>`` to completion and capture its output."""
    full_env = {**os.environ, **(env or {})}
    if home is not None:
        full_env["TANDEM_HOME"] = str(home)
    return subprocess.run(
        [*_tandem_command(), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO_ROOT,
        check=False,
    )


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
        empty_resources: bool = False,
        http_port: int | None = None,
        grpc_port: int | None = None,
    ) -> Sidecar:
        """Start without waiting for readiness.

        With no ``components`` the sidecar uses its defaults ($TANDEM_HOME/components or the
        embedded ones) unless ``empty_resources`` points it at an empty resources folder.
        """
        home = tmp_path / "home"
        home.mkdir(parents=True, exist_ok=True)
        cmd = [*_tandem_command(), "run", "--app-id", app_id]
        http_port = http_port or free_port()
        grpc_port = grpc_port or free_port()
        cmd += [
            "--dapr-http-port",
            str(http_port),
            "--dapr-grpc-port",
            str(grpc_port),
            "--metrics-port",
            str(free_port()),
        ]
        if (components or empty_resources) and not use_defaults:
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
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=REPO_ROOT,
            )
        return cls(proc, http_port, grpc_port, home, log_path, app_id, full_env)

    @classmethod
    @contextlib.contextmanager
    def start(cls, tmp_path: Path, **kwargs: object) -> Iterator[Sidecar]:
        """Start and wait for ``/v1.0/healthz/outbound``; stop on exit.

        When the ports were picked here and another process took one of them meanwhile, the
        start is retried on new ports.
        """
        fixed_ports = kwargs.get("http_port") is not None or kwargs.get("grpc_port") is not None
        attempt = 1
        while True:
            sc = cls.spawn(tmp_path, **kwargs)  # type: ignore[arg-type]
            try:
                sc.wait_outbound()
                break
            except AssertionError:
                sc.stop()
                lost_race = "cannot listen on" in sc.logs()
                if fixed_ports or not lost_race or attempt >= _PORT_RACE_ATTEMPTS:
                    raise
                attempt += 1
        try:
            yield sc
        finally:
            sc.stop()

    def wait_outbound(self, timeout: float = STARTUP_TIMEOUT) -> None:
        url = f"{self.http_url}/v1.0/healthz/outbound"
        ok = wait_until(lambda: http_status(url) == 204 or self.proc.poll() is not None, timeout)
        if not ok or self.proc.poll() is not None:
            self.stop()
            raise AssertionError(f"tandem did not become ready:\n{self.logs()}")

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Wait for ``/v1.0/healthz`` (app channel ready)."""
        url = f"{self.http_url}/v1.0/healthz"
        ok = wait_until(lambda: http_status(url) == 204 or self.proc.poll() is not None, timeout)
        if not ok or self.proc.poll() is not None:
            raise AssertionError(f"tandem did not become healthy:\n{self.logs()}")

    def wait_exit(self, timeout: float = STARTUP_TIMEOUT) -> int:
        """Wait for the process to end on its own; its exit code. Kills it on timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"tandem did not exit within {timeout}s:\n{self.logs()}") from None

    def wait_for_log(self, text: str, timeout: float = STARTUP_TIMEOUT) -> bool:
        return wait_until(lambda: text in self.logs(), timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> Response:
        return http_request(self.http_port, method, path, body, headers, timeout=timeout)

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def comparable_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """An error detail as both wires must agree on: without its empty fields (protobuf JSON
    leaves them out) and without the ``errorCode`` that only gRPC's ErrorInfo carries (HTTP has
    it at the top level)."""
    out = {k: v for k, v in detail.items() if v not in ("", {}, [])}
    meta = {k: v for k, v in (out.pop("metadata", None) or {}).items() if k != "errorCode"}
    if meta:
        out["metadata"] = meta
    return out
