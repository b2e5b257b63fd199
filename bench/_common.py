"""Helpers shared by the benchmarks: start a real sidecar, poll it, read /proc.

Benchmarks are run as scripts (``python bench/startup.py``), so this module is imported as
``_common`` from the script's own folder.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "REPO",
    "Sidecar",
    "cpu_seconds",
    "free_port",
    "git_revision",
    "machine",
    "median",
    "probe",
    "redis_component",
    "rss_kib",
    "smaps_kib",
    "sqlite_component",
    "tandem_command",
    "verdict",
]

REPO = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tandem_command() -> list[str]:
    """The ``tandem`` console script next to this interpreter (else ``python -m runtime``)."""
    script = Path(sys.executable).with_name("tandem")
    if script.exists():
        return [str(script)]
    found = shutil.which("tandem")
    return [found] if found else [sys.executable, "-m", "runtime"]


def probe(port: int, path: str = "/v1.0/healthz/outbound", timeout: float = 0.5) -> int | None:
    """One ``GET path`` on a fresh connection; the status code, or None when nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            head = s.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1])


def rss_kib(pid: int, field: str = "VmRSS") -> int | None:
    """``VmRSS`` (or another ``Vm*`` field) of ``pid`` in KiB, from /proc/<pid>/status."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def smaps_kib(pid: int) -> dict[str, int]:
    """``Pss`` and ``Uss`` (private clean + dirty) of ``pid`` in KiB, from smaps_rollup.

    RSS counts shared pages (libpython, OpenSSL, grpc's library) in full in every process that
    maps them; PSS splits them between the sharers and USS leaves them out: what the process
    alone costs.
    """
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0])
    if "Pss" not in fields:
        return {}
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"Pss": fields["Pss"], "Uss": uss}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (its threads included), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus_online": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def git_revision() -> dict[str, object]:
    """The checkout measured: HEAD and the files changed since (the sidecar runs the tree)."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip()

    changed = [
        line[3:]
        for line in git(
            "status", "--porcelain", "--", "runtime", "components", "protos"
        ).splitlines()
        if line.strip()
    ]
    return {"head": git("rev-parse", "--short", "HEAD"), "uncommitted": changed}


def redis_component(name: str, host: str, *, key_prefix: str | None = None) -> str:
    extra = f"\n  - name: keyPrefix\n    value: {key_prefix}" if key_prefix else ""
    return f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: state.redis
  version: v1
  metadata:
  - name: redisHost
    value: "{host}"{extra}
"""


def sqlite_component(name: str, path: Path) -> str:
    return f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {name}
spec:
  type: state.sqlite
  version: v1
  metadata:
  - name: connectionString
    value: "{path}"
"""


@dataclass
class Sidecar:
    """A ``tandem run`` process on free ports; ``started`` is the perf_counter before exec."""

    proc: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    started: float
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def spawn(
        cls,
        workdir: Path,
        *,
        app_id: str,
        resources: Path | None = None,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        wrapper: Sequence[str] = (),
    ) -> Sidecar:
        home = workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
        cmd = [
            *wrapper,
            *tandem_command(),
            "run",
            "--app-id",
            app_id,
            "--dapr-http-port",
            str(http_port),
            "--dapr-grpc-port",
            str(grpc_port),
            "--metrics-port",
            str(metrics_port),
        ]
        if resources is not None:
            cmd += ["--resources-path", str(resources)]
        cmd += list(extra_args)
        full_env = {**os.environ, "TANDEM_HOME": str(home), **(env or {})}
        log_path = workdir / f"tandem-{http_port}.log"
        with log_path.open("wb") as log:
            started = time.perf_counter()
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO
            )
        return cls(proc, http_port, grpc_port, started, log_path)

    def wait_ready(self, timeout: float = 30.0, interval: float = 0.005) -> float:
        """Poll ``/v1.0/healthz/outbound`` every ``interval`` s; seconds from exec to the 204."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if probe(self.http_port) == 204:
                return time.perf_counter() - self.started
            if self.proc.poll() is not None:
                break
            time.sleep(interval)
        self.stop()
        raise RuntimeError(f"tandem did not become ready:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
