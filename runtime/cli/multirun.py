"""``tandem run -f``: one sidecar (with its app as a child) per app of a run file.

Each sidecar is ``tandem run`` in its own process group, in the app's folder, on ports chosen
free at start unless the run file fixes them. Their output is relayed line by line, prefixed
with the app id. SIGINT/SIGTERM is passed to every sidecar (each drains and stops its app);
whatever still runs after the grace period is killed. An app that exits leaves the others
running, as ``dapr run -f`` does.

Exit code: 128 + the signal number when stopped by a signal (130 for Ctrl-C, as a shell
reports it), else the first non-zero exit code of a sidecar, else 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from runtime.cli.runfile import AppSpec, RunFile

__all__ = ["free_ports", "run_all", "sidecar_argv"]

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# the sidecar runs this interpreter and this copy of Tandem, whatever the app's folder holds
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from runtime.__main__ import main; sys.exit(main())"
)
_KILL_AFTER = 5.0  # seconds beyond the sidecars' own graceful shutdown


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (held together, so never the same)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def sidecar_argv(app: AppSpec, ports: dict[str, int]) -> list[str]:
    """The ``tandem run`` command line of ``app`` (ports: http, grpc, metrics)."""
    argv = [sys.executable, "-c", _BOOT, _PACKAGE_ROOT, "run", "--app-id", app.app_id]
    argv += ["--dapr-http-port", str(ports["http"]), "--dapr-grpc-port", str(ports["grpc"])]
    argv += ["--metrics-port", str(ports["metrics"])]
    if app.app_port is not None:
        argv += ["--app-port", str(app.app_port)]
    if app.internal_grpc_port is not None:
        argv += ["--dapr-internal-grpc-port", str(app.internal_grpc_port)]
    for path in app.resources_paths:
        argv += ["--resources-path", str(path)]
    if app.config is not None:
        argv += ["--config", str(app.config)]
    return [*argv, *app.flags, "--", *app.command]


def _ports(apps: Sequence[AppSpec]) -> list[dict[str, int]]:
    spare = iter(free_ports(3 * len(apps)))
    return [
        {
            "http": app.http_port or next(spare),
            "grpc": app.grpc_port or next(spare),
            "metrics": app.metrics_port or next(spare),
        }
        for app in apps
    ]


async def _relay(prefix: str, stream: asyncio.StreamReader, out: TextIO) -> None:
    while line := await stream.readline():
        out.write(prefix + line.decode("utf-8", "replace").rstrip("\r\n") + "\n")
        out.flush()


async def run_all(run_file: RunFile, *, out: TextIO = sys.stdout) -> int:
    """Start every app's sidecar, relay their output, stop them all on SIGINT/SIGTERM."""
    apps = run_file.apps
    width = max(len(a.app_id) for a in apps)
    loop = asyncio.get_running_loop()
    stopping: list[int] = []
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if not stopping:
            stopping.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    procs: list[asyncio.subprocess.Process] = []
    relays: list[asyncio.Task[None]] = []
    try:
        for app, ports in zip(apps, _ports(apps), strict=True):
            prefix = f"{app.app_id:<{width}} | "
            out.write(
                f"{prefix}starting: HTTP {ports['http']}, gRPC {ports['grpc']}, metrics"
                f" {ports['metrics']}, app port {app.app_port or '-'}, in {app.app_dir}\n"
            )
            proc = await asyncio.create_subprocess_exec(
                *sidecar_argv(app, ports),
                cwd=app.app_dir,
                env=_env(app),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # signals come from here, once, not from the terminal
            )
            procs.append(proc)
            assert proc.stdout is not None
            relays.append(asyncio.create_task(_relay(prefix, proc.stdout, out)))
            if stop.is_set():
                break
        codes = await _wait(apps, procs, stop, out, width)
    finally:
        for proc in procs:  # never leave a sidecar behind, whatever happened here
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        for task in relays:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if stopping:
        return 128 + stopping[0]
    return next((c for c in codes if c != 0), 0)


async def _wait(
    apps: Sequence[AppSpec],
    procs: list[asyncio.subprocess.Process],
    stop: asyncio.Event,
    out: TextIO,
    width: int,
) -> list[int]:
    waits = {asyncio.ensure_future(p.wait()): (a, p) for a, p in zip(apps, procs, strict=False)}
    stopper = asyncio.ensure_future(stop.wait())
    pending = set(waits)
    while pending and not stop.is_set():
        done, pending = await asyncio.wait(pending | {stopper}, return_when="FIRST_COMPLETED")
        pending.discard(stopper)
        for fut in done - {stopper}:
            app, proc = waits[fut]
            out.write(f"{app.app_id:<{width}} | exited with code {_code(proc)}\n")
    if pending:  # stopping: each sidecar drains and stops its app
        for _, proc in (waits[f] for f in pending):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        done, pending = await asyncio.wait(pending, timeout=_grace(apps) + _KILL_AFTER)
        for _, proc in (waits[f] for f in pending):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        if pending:
            await asyncio.wait(pending)
    stopper.cancel()
    return [_code(p) for p in procs]


def _env(app: AppSpec) -> dict[str, str]:
    """The run file's variables over ours; this interpreter's folder first on PATH, so a
    ``python`` command is the virtualenv's Tandem runs in (as if it were activated)."""
    env = {**os.environ, **app.env}
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        [bindir, *(p for p in env.get("PATH", "").split(os.pathsep) if p)]
    )
    return env


def _grace(apps: Sequence[AppSpec]) -> float:
    for app in apps:
        for flag in app.flags:
            if flag.startswith("--dapr-graceful-shutdown-seconds="):
                return float(flag.partition("=")[2])
    return 5.0


def _code(proc: asyncio.subprocess.Process) -> int:
    code = proc.returncode if proc.returncode is not None else 1
    return 128 - code if code < 0 else code
