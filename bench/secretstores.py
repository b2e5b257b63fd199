"""Secret reads through Tandem's HTTP API against reading the backend directly, in one run.

Named ``secretstores.py``, not ``secrets.py``: a script folder is first on ``sys.path``, so a
``bench/secrets.py`` would shadow the standard library's ``secrets`` for every bench script.

    python bench/secretstores.py                       # file + redis, c=1 and 16, 5 s each
    python bench/secretstores.py --quick --stores file # smoke test
    python bench/secretstores.py --repeat 2            # 2 rounds, each cell keeps its best

One sidecar (``tandem run``) with two secret stores: ``bench-file``
(``secretstores.local.file`` over a JSON file of 100 secrets, 40-byte values) and
``bench-redis`` (``secretstores.redis``, the same 100 secrets as Redis strings under a
run-unique prefix). The load generator is this process: one event loop (uvloop when
installed), N workers; each measurement is a warm-up, then the reads completed within the
window are counted. Paths for each (store, concurrency):

- ``direct`` -- the baseline, what an app does without Tandem:
  file: open the JSON file, read it, parse it, take the secret, in a plain loop without an
  event loop (every read; an app that caches the parsed file needs no secret store at all);
  redis: ``GET <key>`` with ``redis.asyncio`` (redis-py's defaults, as bench/state.py).
- ``http`` -- ``GET /v1.0/secrets/<store>/<name>`` over a keep-alive aiohttp session
  (``limit=concurrency``), 200 + JSON body checked.
- ``grpc`` (``--paths``, opt-in) -- ``GetSecret`` over one grpc.aio channel.

Printed: ops/s, p50/p99 in µs, ratio to direct, CPU µs per read of this process and of the
sidecar; then the target line (HTTP at the highest concurrency >= 0.5 x direct). Results go to
``bench/results/secretstores-<time>.json``. Redis keys are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import REPO, Sidecar, cpu_seconds, git_revision, machine, verdict

NSECRETS = 100
NAMES = [f"secret-{i:03d}" for i in range(NSECRETS)]
VALUE = "v" * 40
TARGET = 0.5

Read = Callable[[str], Awaitable[object]]


@dataclass
class Sample:
    store: str
    path: str
    concurrency: int
    ops_per_s: float
    p50_us: float
    p99_us: float
    client_cpu_us: float
    sidecar_cpu_us: float | None


def _percentile(sorted_ns: Sequence[int], p: float) -> float:
    if not sorted_ns:
        return float("nan")
    return sorted_ns[max(1, math.ceil(p / 100 * len(sorted_ns))) - 1] / 1000


async def measure(
    read: Read, *, concurrency: int, warmup: float, duration: float, sidecar_pid: int | None
) -> tuple[list[int], float, float | None]:
    """Latencies (ns) of the reads completed in the window; client and sidecar CPU seconds."""
    latencies: list[int] = []
    clock = time.perf_counter_ns
    window = [1 << 62, 1 << 62]

    async def worker(w: int) -> None:
        n = w
        while True:
            name = NAMES[n % NSECRETS]
            n += concurrency
            t0 = clock()
            await read(name)
            t1 = clock()
            if t1 >= window[0]:
                if t1 > window[1]:
                    return
                latencies.append(t1 - t0)

    tasks = [asyncio.create_task(worker(w)) for w in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        cpu0, side0 = time.process_time(), cpu_seconds(sidecar_pid) if sidecar_pid else 0.0
        window[0] = clock()
        window[1] = window[0] + int(duration * 1e9)
        await asyncio.sleep(duration)
        cpu1, side1 = time.process_time(), cpu_seconds(sidecar_pid) if sidecar_pid else 0.0
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, cpu1 - cpu0, (side1 - side0) if sidecar_pid else None


def read_file(path: Path, name: str) -> object:
    with path.open("rb") as f:
        return json.loads(f.read())[name]


def measure_sync(
    path: Path, *, warmup: float, duration: float
) -> tuple[list[int], float, float | None]:
    """The file baseline: a plain loop, no event loop (file reads do not wait, so callers
    cannot overlap in one process: this is the most one core reads, at any concurrency)."""
    clock = time.perf_counter_ns
    end = clock() + int(warmup * 1e9)
    n = 0
    while clock() < end:
        read_file(path, NAMES[n % NSECRETS])
        n += 1
    latencies: list[int] = []
    cpu0 = time.process_time()
    end = clock() + int(duration * 1e9)
    while True:
        t0 = clock()
        read_file(path, NAMES[n % NSECRETS])
        t1 = clock()
        if t1 > end:
            break
        latencies.append(t1 - t0)
        n += 1
    return latencies, time.process_time() - cpu0, None


def _components(folder: Path, secrets_file: Path, redis_host: str, prefix: str) -> None:
    folder.mkdir()
    (folder / "file.yaml").write_text(f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: bench-file
spec:
  type: secretstores.local.file
  version: v1
  metadata:
  - name: secretsFile
    value: "{secrets_file}"
""")
    (folder / "redis.yaml").write_text(f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: bench-redis
spec:
  type: secretstores.redis
  version: v1
  metadata:
  - name: redisHost
    value: "{redis_host}"
  - name: prefix
    value: "{prefix}"
""")


@dataclass(frozen=True)
class Setup:
    sidecar: Sidecar
    secrets_file: Path
    redis_host: str
    prefix: str  # of the Redis keys


async def run(args: argparse.Namespace) -> list[Sample]:
    from redis.asyncio import Redis

    stores = args.stores.split(",")
    paths = args.paths.split(",")
    levels = [int(c) for c in args.concurrency.split(",")]
    host, _, port = args.redis_host.rpartition(":")
    prefix = f"tandem-bench-{uuid.uuid4().hex[:8]}:"
    redis = Redis(host=host, port=int(port))
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="tandem-bench-secrets-") as tmp:
        work = Path(tmp)
        secrets_file = work / "secrets.json"
        secrets_file.write_text(json.dumps({n: VALUE for n in NAMES}))
        if "redis" in stores:
            await redis.mset({prefix + n: VALUE for n in NAMES})
        _components(work / "resources", secrets_file, args.redis_host, prefix)
        # PYTHONPATH: the sidecar runs this checkout, whatever the venv's editable install
        sidecar = Sidecar.spawn(
            work,
            app_id="bench-secrets",
            resources=work / "resources",
            env={"PYTHONPATH": str(REPO)},
        )
        setup = Setup(sidecar, secrets_file, args.redis_host, prefix)
        try:
            sidecar.wait_ready()
            for rnd in range(args.repeat):
                for store in stores:
                    for c in levels:
                        for path in paths:
                            if (store, path) == ("file", "direct"):
                                lat, cpu, side = measure_sync(
                                    secrets_file, warmup=args.warmup, duration=args.duration
                                )
                            else:
                                read, close = await _reader(store, path, c, setup)
                                try:
                                    lat, cpu, side = await measure(
                                        read,
                                        concurrency=c,
                                        warmup=args.warmup,
                                        duration=args.duration,
                                        sidecar_pid=sidecar.pid if path != "direct" else None,
                                    )
                                finally:
                                    await close()
                            lat.sort()
                            n = max(len(lat), 1)
                            sample = Sample(
                                store=store,
                                path=path,
                                concurrency=c,
                                ops_per_s=len(lat) / args.duration,
                                p50_us=_percentile(lat, 50),
                                p99_us=_percentile(lat, 99),
                                client_cpu_us=cpu / n * 1e6,
                                sidecar_cpu_us=None if side is None else side / n * 1e6,
                            )
                            samples.append(sample)
                            print(
                                f"round {rnd + 1} {store:5} c={c:<2} {path:6} "
                                f"{sample.ops_per_s:9.0f}/s p50 {sample.p50_us:7.0f} µs",
                                flush=True,
                            )
        finally:
            sidecar.stop()
            if "redis" in stores:
                await redis.delete(*(prefix + n for n in NAMES))
            await redis.aclose()
    return samples


async def _reader(
    store: str, path: str, concurrency: int, setup: Setup
) -> tuple[Read, Callable[[], Awaitable[None]]]:
    """The read of one path and how to release what it opened."""
    import aiohttp
    from redis.asyncio import Redis

    async def nothing() -> None:
        return None

    sidecar = setup.sidecar
    if path == "direct":
        host, _, port = setup.redis_host.rpartition(":")
        client = Redis(host=host, port=int(port))
        prefix = setup.prefix

        async def read_redis(name: str) -> object:
            value = await client.get(prefix + name)
            if value is None:
                raise RuntimeError(f"missing {name}")
            return value

        return read_redis, client.aclose
    if path == "http":
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            base_url=f"http://127.0.0.1:{sidecar.http_port}",
        )
        component = f"/v1.0/secrets/bench-{store}/"

        async def read_http(name: str) -> object:
            async with session.get(component + name) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{resp.status}: {body[:200]!r}")
                return body

        return read_http, session.close
    if path == "grpc":
        sys.path.insert(0, str(REPO))
        import grpc

        from protos.dapr.runtime.v1 import dapr_pb2_grpc, secret_pb2

        channel = grpc.aio.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}")
        stub = dapr_pb2_grpc.DaprStub(channel)
        store_name = f"bench-{store}"

        async def read_grpc(name: str) -> object:
            return await stub.GetSecret(
                secret_pb2.GetSecretRequest(store_name=store_name, key=name)
            )

        async def close_channel() -> None:
            await channel.close(None)

        return read_grpc, close_channel
    raise ValueError(f"unknown path {path!r}")


def best(samples: list[Sample]) -> dict[tuple[str, int, str], Sample]:
    out: dict[tuple[str, int, str], Sample] = {}
    for s in samples:
        key = (s.store, s.concurrency, s.path)
        if key not in out or s.ops_per_s > out[key].ops_per_s:
            out[key] = s
    return out


def report(samples: list[Sample], levels: list[int]) -> list[str]:
    table = best(samples)
    lines = [
        "| store | c | path | ops/s | p50 µs | p99 µs | vs direct | CPU µs/read client | sidecar |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (store, c, path), s in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        direct = table.get((store, c, "direct"))
        ratio = s.ops_per_s / direct.ops_per_s if direct and direct.ops_per_s else float("nan")
        side = "-" if s.sidecar_cpu_us is None else f"{s.sidecar_cpu_us:.0f}"
        lines.append(
            f"| {store} | {c} | {path} | {s.ops_per_s:.0f} | {s.p50_us:.0f} | {s.p99_us:.0f} "
            f"| {ratio:.2f} | {s.client_cpu_us:.0f} | {side} |"
        )
    top = max(levels)
    for store in sorted({s.store for s in samples}):
        direct, http = table.get((store, top, "direct")), table.get((store, top, "http"))
        if direct and http:
            ratio = http.ops_per_s / direct.ops_per_s
            lines.append(
                f"{store}: HTTP c={top} / direct = {ratio:.2f} "
                f"(target >= {TARGET}) {verdict(ratio >= TARGET)}"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="file,redis")
    parser.add_argument("--paths", default="direct,http")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--redis-host", default="127.0.0.1:6379")
    parser.add_argument("--quick", action="store_true", help="1 s runs, 0.25 s warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 1.0, 0.25
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    started = time.strftime("%Y%m%d-%H%M%S")
    samples = runner(run(args))
    lines = report(samples, [int(c) for c in args.concurrency.split(",")])
    print("\n".join(lines))
    out = REPO / "bench" / "results" / f"secretstores-{started}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "machine": machine(),
                "git": git_revision(),
                "samples": [asdict(s) for s in samples],
                "report": lines,
            },
            indent=2,
        )
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
