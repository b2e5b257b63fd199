"""Shared driver of the server micro-benchmarks (``http_server.py``, ``grpc_server.py``).

Each variant is served by a child process (``<script> --serve VARIANT --port P``, which
prints ``ready`` once listening); this process drives it at ``concurrency`` callers from one
uvloop event loop and reads the child's CPU time from /proc over the measured window. Variants
are measured in alternating rounds (ABCABC...), and the round with the least server CPU per call
is kept per variant (the least disturbed by other work on the machine).

A variant ``base:NAME`` is ``NAME`` served by another checkout (``base``, e.g. a ``git worktree``
of the previous revision): its own copy of the script, with ``PYTHONPATH`` on that tree, so an
old revision is measured alternated with the new one in the same run.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import cpu_seconds, free_port

__all__ = ["Measured", "measure_variants", "table"]

Call = Callable[[], Awaitable[None]]
Connect = Callable[[int], Awaitable[tuple[Call, Callable[[], Awaitable[None]]]]]


@dataclass
class Measured:
    variant: str
    calls: int
    per_s: float
    server_cpu_us: float  # per call
    load: float  # 1-minute load average at the end


def _spawn(script: Path, variant: str, port: int, base: Path | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GRPC_ENABLE_FORK_SUPPORT": "false"}
    if variant.startswith("base:"):
        if base is None:
            raise ValueError(f"{variant}: no base checkout given")
        variant = variant.removeprefix("base:")
        script = base / script.relative_to(script.parents[1])
        env["PYTHONPATH"] = str(base)
    cmd = [sys.executable, str(script), "--serve", variant, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if b"ready" not in line:
        proc.kill()
        raise RuntimeError(f"{variant}: server did not start ({line!r})")
    return proc


async def _drive(
    connect: Connect, port: int, pid: int, concurrency: int, warmup: float, duration: float
) -> tuple[int, float]:
    call, close = await connect(port)
    done = 0
    stop = False

    async def worker() -> None:
        nonlocal done
        while not stop:
            await call()
            done += 1

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        n0, c0 = done, cpu_seconds(pid)
        await asyncio.sleep(duration)
        n1, c1 = done, cpu_seconds(pid)
    finally:
        stop = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await close()
    calls = n1 - n0
    return calls, ((c1 - c0) / calls * 1e6 if calls else float("nan"))


def measure_variants(
    script: Path,
    variants: Sequence[str],
    connect: Connect,
    *,
    concurrency: int,
    rounds: int,
    warmup: float,
    duration: float,
    base: Path | None = None,
) -> list[Measured]:
    import uvloop

    best: dict[str, Measured] = {}
    for rnd in range(1, rounds + 1):
        for variant in variants:
            port = free_port()
            proc = _spawn(script, variant, port, base)
            try:
                calls, cpu = uvloop.run(
                    _drive(connect, port, proc.pid, concurrency, warmup, duration)
                )
            finally:
                proc.terminate()
                proc.wait(10)
            m = Measured(variant, calls, calls / duration, cpu, os.getloadavg()[0])
            print(
                f"  [{rnd}] {variant:<14} {m.per_s:>8.0f}/s  server {cpu:>6.1f} us/call"
                f"  load {m.load:.2f}",
                file=sys.stderr,
                flush=True,
            )
            if variant not in best or cpu < best[variant].server_cpu_us:
                best[variant] = m
    return [best[v] for v in variants]


def table(results: Sequence[Measured], baseline: str) -> str:
    base = next(r for r in results if r.variant == baseline)
    lines = [f"{'variant':<16}{'calls/s':>9}{'server CPU/call':>17}{'vs ' + baseline:>18}"]
    for r in results:
        ratio = r.server_cpu_us / base.server_cpu_us if base.server_cpu_us else float("nan")
        lines.append(f"{r.variant:<16}{r.per_s:>9.0f}{r.server_cpu_us:>14.1f} us{ratio:>17.2f}x")
    lines.append(f"load average (1 min) at the end: {results[-1].load:.2f}")
    return "\n".join(lines)
