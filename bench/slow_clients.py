"""The sidecar's memory and latency under slow and stalled HTTP clients, beside its idle figures.

    python bench/slow_clients.py [--idle-conns 500] [--stalled 40] [--hold 5] [--settle 30]
                                 [--repo PATH] [--sidecar-arg=FLAG ...]

One sidecar (``python -m runtime run`` from ``--repo``, default this checkout, so the working
tree is measured; ``--repo /path/to/other/checkout`` measures another revision) with one
``state.in-memory`` store, on loopback. Phases, each bounded in time:

1. **idle**: 2 s after start-up, ``VmRSS``; then the latency of ``GET /v1.0/state/store/k``
   (one keep-alive connection, sequential, ``--gets`` requests or 5 s).
2. **load**: ``--idle-conns`` TCP connections that send nothing, and ``--stalled`` uploads that
   each send the headers of a ``POST /v1.0/state/store`` with a body of ``--body-size`` bytes
   (default 4 MiB - 1 KiB, just under the default ``--max-body-size``), all of it but the last
   KiB, and then stall. The clients never read. For ``--hold`` seconds the same GETs are timed
   and ``VmRSS`` is sampled every 50 ms: **peak RSS** and **GET p99** under load.
3. **clients leave**: every client socket is closed (an abort for the stalled uploads).
   ``VmRSS`` is polled for ``--settle`` seconds: the RSS at the end, and how long it took to go
   back under the target.

Targets (from the hardening issue): peak RSS < 150 MB, RSS after the clients left < 90 MB
within 30 s, GET p99 under load < 50 ms (MB = 10^6 bytes). Results also go to
``bench/results/slow_clients-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _common import REPO, Sidecar, free_port, git_revision, machine, rss_kib, verdict

PEAK_TARGET_MB = 150.0
SETTLED_TARGET_MB = 90.0
P99_TARGET_MS = 50.0
_COMPONENT = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: store
spec:
  type: state.in-memory
  version: v1
"""


@dataclass
class Latency:
    count: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    errors: int = 0


@dataclass
class Report:
    idle_rss_mb: float = 0.0
    idle_get: Latency = field(default_factory=Latency)
    load_peak_rss_mb: float = 0.0
    load_get: Latency = field(default_factory=Latency)
    idle_conns_open: int = 0
    stalled_sent: int = 0
    stalled_answered: dict[str, int] = field(default_factory=dict)
    after_rss_mb: float = 0.0
    after_seconds_to_target: float | None = None
    after_min_rss_mb: float = 0.0


def _mb(kib: int | None) -> float:
    return (kib or 0) * 1024 / 1e6


def spawn(repo: Path, work: Path, extra: list[str]) -> Sidecar:
    """``python -m runtime run`` with ``repo`` as the working directory (so its code runs)."""
    res = work / "resources"
    res.mkdir()
    (res / "store.yaml").write_text(_COMPONENT)
    home = work / "home"
    home.mkdir()
    http_port, grpc_port = free_port(), free_port()
    cmd = [
        sys.executable,
        "-m",
        "runtime",
        "run",
        "--app-id",
        "bench",
        "--dapr-http-port",
        str(http_port),
        "--dapr-grpc-port",
        str(grpc_port),
        "--metrics-port",
        str(free_port()),
        "--resources-path",
        str(res),
        *extra,
    ]
    log_path = work / "tandem.log"
    env = {**os.environ, "TANDEM_HOME": str(home)}
    with log_path.open("wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=repo)
    return Sidecar(proc, http_port, grpc_port, started, log_path)


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    """Send one request on a keep-alive connection; its status (body read and dropped)."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def time_gets(port: int, count: int, seconds: float) -> Latency:
    """Sequential GETs on one keep-alive connection: ``count`` or ``seconds``, whichever first."""
    raw = b"GET /v1.0/state/store/k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    samples: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while len(samples) + errors < count and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(5):
                    status = await _request(reader, writer, raw)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if status == 200:
                samples.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1
    finally:
        writer.close()
    if not samples:
        return Latency(errors=errors)
    samples.sort()

    def rank(p: float) -> float:
        return samples[min(len(samples) - 1, max(0, round(p * len(samples)) - 1))]

    return Latency(len(samples), rank(0.50), rank(0.99), samples[-1], errors)


async def open_idle(port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        out.append(s)
        if len(out) % 50 == 0:
            await asyncio.sleep(0)
    return out


Upload = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def start_stalled(port: int, n: int, body_size: int) -> list[Upload]:
    """``n`` uploads that send all their body but the last KiB, then stall."""
    head = (
        "POST /v1.0/state/store HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {body_size}\r\n\r\n"
    ).encode()
    body = b"[" + b" " * (body_size - 1024 - 1)
    uploads = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + body)
        uploads.append((reader, writer))
    return uploads


async def answered(uploads: list[Upload]) -> dict[str, int]:
    """Per status line (``open``: no answer yet; ``closed``: dropped unanswered), how the
    stalled uploads stand now."""
    out: dict[str, int] = {}
    for reader, _ in uploads:
        try:
            async with asyncio.timeout(0.01):
                data = await reader.read(64)
            key = data.split(b"\r\n", 1)[0].decode() if data else "closed"
        except TimeoutError:
            key = "open"
        except OSError:
            key = "closed"
        out[key] = out.get(key, 0) + 1
    return out


async def sample_peak(pid: int, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, rss_kib(pid) or 0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.05):
                await stop.wait()
    return peak


async def run(args: argparse.Namespace, side: Sidecar) -> Report:
    rep = Report()
    pid, port = side.pid, side.http_port
    put = b'[{"key":"k","value":{"v":1}}]'
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _request(
        reader,
        writer,
        b"POST /v1.0/state/store HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        % (len(put), put),
    )
    writer.close()
    await asyncio.sleep(2.0)
    rep.idle_rss_mb = _mb(rss_kib(pid))
    rep.idle_get = await time_gets(port, args.gets, 5.0)
    print(
        f"  idle: {rep.idle_rss_mb:.1f} MB, GET p99 {rep.idle_get.p99_ms:.2f} ms", file=sys.stderr
    )

    stop = asyncio.Event()
    peak_task = asyncio.create_task(sample_peak(pid, stop))
    idle = await open_idle(port, args.idle_conns)
    stalled = await start_stalled(port, args.stalled, args.body_size)
    rep.stalled_sent = len(stalled)
    hold_end = time.perf_counter() + args.hold
    rep.load_get = await time_gets(port, 10**9, args.hold)
    await asyncio.sleep(max(0.0, hold_end - time.perf_counter()))
    rep.stalled_answered = await answered(stalled)
    rep.idle_conns_open = sum(1 for s in idle if _still_open(s))
    stop.set()
    rep.load_peak_rss_mb = _mb(await peak_task)
    print(
        f"  load: peak {rep.load_peak_rss_mb:.1f} MB, GET p99 {rep.load_get.p99_ms:.2f} ms,"
        f" stalled uploads {rep.stalled_answered}, idle still open {rep.idle_conns_open}",
        file=sys.stderr,
    )

    for s in idle:
        s.close()
    for _, w in stalled:
        w.transport.abort()
    left = time.perf_counter()
    lowest = float("inf")
    while time.perf_counter() - left < args.settle:
        mb = _mb(rss_kib(pid))
        lowest = min(lowest, mb)
        if rep.after_seconds_to_target is None and mb < SETTLED_TARGET_MB:
            rep.after_seconds_to_target = time.perf_counter() - left
        await asyncio.sleep(0.25)
    rep.after_rss_mb = _mb(rss_kib(pid))
    rep.after_min_rss_mb = min(lowest, rep.after_rss_mb)
    return rep


def _still_open(s: socket.socket) -> bool:
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def print_table(rep: Report) -> None:
    def row(name: str, idle: str, load: str, target: str, ok: bool | None) -> None:
        mark = "" if ok is None else verdict(ok)
        print(f"  {name:<32} {idle:>12} {load:>14} {target:>10}  {mark}")

    print(f"  {'':<32} {'idle':>12} {'under load':>14} {'target':>10}")
    row(
        "RSS (MB)",
        f"{rep.idle_rss_mb:.1f}",
        f"{rep.load_peak_rss_mb:.1f} peak",
        f"< {PEAK_TARGET_MB:.0f}",
        rep.load_peak_rss_mb < PEAK_TARGET_MB,
    )
    row(
        "GET p99 (ms)",
        f"{rep.idle_get.p99_ms:.2f}",
        f"{rep.load_get.p99_ms:.2f}",
        f"< {P99_TARGET_MS:.0f}",
        rep.load_get.p99_ms < P99_TARGET_MS,
    )
    row("GET p50 (ms)", f"{rep.idle_get.p50_ms:.2f}", f"{rep.load_get.p50_ms:.2f}", "", None)
    row(
        "GETs timed (errors)",
        f"{rep.idle_get.count} ({rep.idle_get.errors})",
        f"{rep.load_get.count} ({rep.load_get.errors})",
        "",
        None,
    )
    to_target = (
        f"{rep.after_seconds_to_target:.1f} s"
        if rep.after_seconds_to_target is not None
        else "never"
    )
    row(
        "RSS after clients left (MB)",
        "",
        f"{rep.after_rss_mb:.1f}",
        f"< {SETTLED_TARGET_MB:.0f}",
        rep.after_rss_mb < SETTLED_TARGET_MB,
    )
    row("  time to get under target", "", to_target, "< 30 s", None)
    print(f"  stalled uploads at the end of the hold: {rep.stalled_answered}")
    print(f"  idle connections still open at the end of the hold: {rep.idle_conns_open}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--idle-conns", type=int, default=500)
    ap.add_argument("--stalled", type=int, default=40)
    ap.add_argument("--body-size", type=int, default=(4 << 20) - 1024)
    ap.add_argument("--gets", type=int, default=2000, help="GETs timed while idle (max 5 s)")
    ap.add_argument("--hold", type=float, default=5.0, help="seconds under load (max 60)")
    ap.add_argument("--settle", type=float, default=30.0, help="seconds to watch RSS after")
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout whose runtime runs")
    ap.add_argument("--sidecar-arg", action="append", default=[], metavar="FLAG")
    args = ap.parse_args()
    args.hold = min(args.hold, 60.0)
    args.settle = min(args.settle, 120.0)
    args.idle_conns = min(args.idle_conns, 5000)
    args.stalled = min(args.stalled, 500)

    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp:
        side = spawn(args.repo.resolve(), Path(tmp), args.sidecar_arg)
        try:
            side.wait_ready()
            rep = asyncio.run(run(args, side))
        finally:
            side.stop()
    print(f"slow clients ({args.repo.resolve()}, {' '.join(args.sidecar_arg) or 'defaults'}):")
    print_table(rep)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"slow_clients-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {
                "args": {k: str(v) for k, v in vars(args).items()},
                "machine": machine(),
                "revision": git_revision(),
                "report": asdict(rep),
            },
            indent=2,
        )
    )
    print(f"  results: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
