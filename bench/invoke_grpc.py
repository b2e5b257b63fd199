"""gRPC invocation: proxying and ``InvokeService`` beside a direct grpcio call, in one run.

    python bench/invoke_grpc.py                   # 3 s per point, 3 alternated rounds
    python bench/invoke_grpc.py --seconds 2 --rounds 5

Everything on 127.0.0.1, mTLS between the sidecars (the default). One grpc.aio app
(``_invoke_grpc_app.py``, raw bytes) is called by a grpc.aio client (uvloop, this process):

- ``direct``: ``/bench.Echo/Unary`` (100 bytes each way) on the app's port;
- ``proxy x1``: the same call with ``dapr-app-id: callee`` through the callee's sidecar;
- ``proxy x2``: through the caller's sidecar, then the callee's;
- ``invoke x2``: ``Dapr/InvokeService`` (app method ``hello``, its ``OnInvoke``) through both.

Per path and round: p50 and p99 of sequential calls (1 in flight), the throughput with 16 in
flight, and the sidecars' CPU per call at 16 in flight (process CPU time / calls, summed over
the sidecars on the path). The rounds alternate the paths; medians are printed with the ratio
to ``direct``. Then a bidi stream of 20,000 1 KiB messages (written and read concurrently),
direct and ``proxy x2``: messages/s and each sidecar's RSS growth. The load average is printed.
Results go to ``bench/results/invoke-grpc-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, Sidecar, cpu_seconds, free_port, git_revision, machine, rss_kib

sys.path.insert(0, str(REPO))
from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import invoke_pb2

__all__ = ["main"]

APP = Path(__file__).resolve().with_name("_invoke_grpc_app.py")
PAYLOAD = b"x" * 100


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _invoke_request() -> bytes:
    message = common_pb2.InvokeRequest(method="hello", content_type="text/plain")
    message.data.value = PAYLOAD
    return invoke_pb2.InvokeServiceRequest(id="callee", message=message).SerializeToString()


async def _point(
    port: int,
    method: str,
    request: bytes,
    metadata: tuple[tuple[str, str], ...],
    seconds: float,
    pids: list[int],
) -> dict[str, float]:
    from grpc import aio

    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(method, None, None)

        async def one() -> None:
            await call(request, metadata=metadata)

        for _ in range(200):  # warm-up: connections on every hop
            await one()
        lat: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            await one()
            lat.append(time.perf_counter() - t)
        done = 0
        cpu0 = sum(cpu_seconds(p) for p in pids)
        start = time.perf_counter()
        end = start + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                await one()
                done += 1

        await asyncio.gather(*(worker() for _ in range(16)))
        elapsed = time.perf_counter() - start
        cpu = sum(cpu_seconds(p) for p in pids) - cpu0
    lat.sort()
    return {
        "p50_us": statistics.median(lat) * 1e6,
        "p99_us": lat[int(len(lat) * 0.99)] * 1e6,
        "rps_c16": done / elapsed,
        "sidecar_cpu_us_per_call": cpu / done * 1e6 if pids else 0.0,
    }


async def _bidi(
    port: int, metadata: tuple[tuple[str, str], ...], count: int, pids: dict[str, int]
) -> dict[str, Any]:
    from grpc import aio

    message = b"m" * 1024
    before = {name: rss_kib(pid) or 0 for name, pid in pids.items()}
    peak = dict(before)
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream("/bench.Echo/Bidi", None, None)(None, metadata=metadata)

        async def send() -> None:
            for _ in range(count):
                await call.write(message)
            await call.done_writing()

        start = time.perf_counter()
        sender = asyncio.create_task(send())
        got = 0
        while (reply := await call.read()) is not aio.EOF:  # type: ignore[attr-defined]
            got += len(reply)  # type: ignore[arg-type]
            if got % (1024 * 2000) == 0:
                for name, pid in pids.items():
                    peak[name] = max(peak[name], rss_kib(pid) or 0)
        await sender
        elapsed = time.perf_counter() - start
    assert got == count * 1024, got
    return {
        "msgs_per_s": count / elapsed,
        "rss_growth_mb": {n: (peak[n] - before[n]) / 1024 for n in pids},
    }


def main(argv: list[str] | None = None) -> int:
    """``argv``: the options (``bench/invoke.py`` runs this with its own), else the command line."""
    import uvloop

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per point")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20_000, help="bidi stream length")
    args = parser.parse_args(argv)
    sidecars: list[Sidecar] = []
    app: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="tandem-bench-invoke-grpc-") as tmp:
        workdir = Path(tmp)
        try:
            app_port = free_port()
            app = subprocess.Popen([sys.executable, str(APP), str(app_port)])
            _wait_port(app_port)
            env = {"PYTHONPATH": str(REPO)}
            callee = Sidecar.spawn(
                workdir,
                app_id="callee",
                extra_args=["--app-port", str(app_port), "--app-protocol", "grpc"],
                env=env,
            )
            sidecars.append(callee)
            callee.wait_ready()
            caller = Sidecar.spawn(workdir, app_id="caller", env=env)
            sidecars.append(caller)
            caller.wait_ready()
            to_callee = (("dapr-app-id", "callee"),)
            unary = "/bench.Echo/Unary"
            invoke = "/dapr.proto.runtime.v1.Dapr/InvokeService"
            paths: dict[str, tuple[int, str, bytes, tuple[tuple[str, str], ...], list[int]]] = {
                "direct": (app_port, unary, PAYLOAD, (), []),
                "proxy x1": (callee.grpc_port, unary, PAYLOAD, to_callee, [callee.pid]),
                "proxy x2": (caller.grpc_port, unary, PAYLOAD, to_callee, [caller.pid, callee.pid]),
                "invoke x2": (
                    caller.grpc_port,
                    invoke,
                    _invoke_request(),
                    (),
                    [caller.pid, callee.pid],
                ),
            }
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
            for i in range(args.rounds):
                for name, (port, method, request, md, pids) in paths.items():
                    point = uvloop.run(_point(port, method, request, md, args.seconds, pids))
                    rounds[name].append(point)
                    print(
                        f"round {i + 1} {name:9s} p50 {point['p50_us']:6.0f} us  "
                        f"p99 {point['p99_us']:6.0f} us  c=16 {point['rps_c16']:6.0f}/s  "
                        f"sidecar CPU {point['sidecar_cpu_us_per_call']:5.0f} us/call"
                    )
            med = {
                name: {k: statistics.median(p[k] for p in points) for k in points[0]}
                for name, points in rounds.items()
            }
            direct = med["direct"]
            print(f"medians of {args.rounds} alternated rounds (load {os.getloadavg()}):")
            for name, m in med.items():
                print(
                    f"  {name:9s} p50 {m['p50_us']:6.0f} us "
                    f"(+{m['p50_us'] - direct['p50_us']:5.0f})"
                    f"  p99 {m['p99_us']:6.0f} us  c=16 {m['rps_c16']:6.0f}/s "
                    f"({m['rps_c16'] / direct['rps_c16']:.2f}x direct)  "
                    f"sidecar CPU {m['sidecar_cpu_us_per_call']:5.0f} us/call"
                )
            streams = {
                "direct": uvloop.run(_bidi(app_port, (), args.messages, {})),
                "proxy x2": uvloop.run(
                    _bidi(
                        caller.grpc_port,
                        to_callee,
                        args.messages,
                        {"caller": caller.pid, "callee": callee.pid},
                    )
                ),
            }
            for name, s in streams.items():
                growth = ", ".join(f"{n} {g:.1f} MB" for n, g in s["rss_growth_mb"].items())
                print(
                    f"bidi {args.messages} x 1 KiB {name:9s} {s['msgs_per_s']:7.0f} msgs/s"
                    + (f"  RSS growth {growth}" if growth else "")
                )
            report = {
                "machine": machine(),
                "git": git_revision(),
                "args": vars(args),
                "load_average": os.getloadavg(),
                "rounds": rounds,
                "medians": med,
                "bidi": streams,
            }
            out = REPO / "bench" / "results"
            out.mkdir(exist_ok=True)
            target = out / f"invoke-grpc-{time.strftime('%Y%m%d-%H%M%S')}.json"
            target.write_text(json.dumps(report, indent=2))
            print(f"written to {target.relative_to(REPO)}")
        finally:
            for sc in sidecars:
                sc.stop()
            if app is not None:
                app.terminate()
                app.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
