"""Pub/sub through Tandem: publish throughput (HTTP, gRPC) and end-to-end delivery latency.

    python bench/pubsub.py [--components in-memory] [--duration 5] [--concurrency 16]
                           [--rates 100,1000] [--quick]

One sidecar (``tandem run``, its own process) is started per component, with this process as
its app: an aiohttp app on a free port answering ``GET /dapr/subscribe`` with one subscription
(topic ``bench``, route ``/bench``) and acknowledging every event (200, empty body). The load
generator runs in the same asyncio loop (uvloop when installed, as the sidecar uses).

Measurements, per component:

- ``publish-http``: N workers POST ``/v1.0/publish/<pubsub>/bench`` (a 100-byte JSON body) on
  one keep-alive aiohttp session; throughput = publishes completed in ``--duration`` / duration,
  latency percentiles of those publishes (nearest rank);
- ``publish-grpc``: the same with ``grpc.aio`` and Tandem's generated ``DaprStub.PublishEvent``;
- ``e2e-<rate>``: publishes paced at <rate> msg/s over HTTP, each body carrying its send time;
  latency = the app's receive time - the send time (same clock), p50/p99 over the deliveries
  that arrived within the window plus a 5 s drain; ``lost`` counts the ones that never came;
- ``e2e-max``: N workers publishing as fast as they can; delivered msg/s over the window.

A direct baseline (the same broker driven from Python with its client library) is a function
in ``BASELINES`` keyed by component; ``in-memory`` has none (there is no broker outside the
sidecar). Broker components add their manifest in ``COMPONENTS`` and a baseline here.

Results go to ``bench/results/pubsub-<timestamp>.json`` with the machine and the git revision.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# this checkout's protos (the sidecar runs this checkout too), even when the venv's editable
# install points at another checkout (git worktrees)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import grpc
from _common import REPO, Sidecar, free_port, git_revision, machine
from aiohttp import web

from protos.dapr.runtime.v1 import dapr_pb2_grpc, pubsub_pb2

TOPIC = "bench"
PAYLOAD_PAD = "x" * 60

COMPONENTS: dict[str, str] = {
    "in-memory": """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: bench-in-memory
spec:
  type: pubsub.in-memory
  version: v1
""",
}

Baseline = Callable[["Settings"], Awaitable[dict[str, Any]]]
BASELINES: dict[str, Baseline] = {}  # component -> the same work driven directly
CLEANUPS: dict[str, Callable[[], Awaitable[None]]] = {}  # component -> after its sidecar stopped
REDIS = "127.0.0.1:6379"
_REDIS_STREAM = f"tandem-bench-{uuid.uuid4().hex[:8]}"  # the redis component's topic


def _topic(component: str) -> str:
    return _REDIS_STREAM if component == "redis" else TOPIC


COMPONENTS["sqlite"] = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: bench-sqlite
spec:
  type: pubsub.sqlite
  version: v1
"""
COMPONENTS["redis"] = f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: bench-redis
spec:
  type: pubsub.redis
  version: v1
  metadata:
  - name: redisHost
    value: {REDIS}
"""


async def _direct_publish(
    settings: Settings, publish: Callable[[int], Awaitable[None]]
) -> dict[str, Any]:
    done, lat = await _workers(settings.concurrency, settings.duration, settings.warmup, publish)
    return {
        "concurrency": settings.concurrency,
        "ops_per_s": done / settings.duration,
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
    }


async def _redis_baseline(settings: Settings) -> dict[str, Any]:
    """redis-py: one ``XADD`` per message, the same body, on a stream of its own."""
    import redis.asyncio as aredis

    host, _, port = REDIS.partition(":")
    client = aredis.Redis(host=host, port=int(port), max_connections=settings.concurrency + 4)
    key = f"{_REDIS_STREAM}-direct"
    try:

        async def xadd(seq: int) -> None:
            await client.xadd(key, {"data": body(seq)})

        return await _direct_publish(settings, xadd)
    finally:
        await client.delete(key)
        await client.aclose()


async def _redis_cleanup() -> None:
    import redis.asyncio as aredis

    host, _, port = REDIS.partition(":")
    client = aredis.Redis(host=host, port=int(port))
    await client.delete(_REDIS_STREAM)
    await client.aclose()


async def _sqlite_baseline(settings: Settings) -> dict[str, Any]:
    """sqlite3 on a WAL file (``synchronous=NORMAL``): one ``INSERT`` (autocommit) per message on
    the connection's own thread, as a non-blocking app would."""
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as thread:
        conn = sqlite3.connect(
            Path(tmp) / "direct.db", isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("CREATE TABLE m (seq INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB)")
        loop = asyncio.get_running_loop()

        async def insert(seq: int) -> None:
            data = body(seq)
            await loop.run_in_executor(
                thread, conn.execute, "INSERT INTO m (data) VALUES (?)", (data,)
            )

        try:
            return await _direct_publish(settings, insert)
        finally:
            conn.close()


BASELINES.update({"redis": _redis_baseline, "sqlite": _sqlite_baseline})
CLEANUPS["redis"] = _redis_cleanup


@dataclass
class Settings:
    components: list[str]
    duration: float
    concurrency: int
    rates: list[int]
    warmup: float


@dataclass
class Results:
    machine: dict[str, Any]
    revision: dict[str, Any]
    settings: dict[str, Any]
    samples: list[dict[str, Any]] = field(default_factory=list)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class App:
    """The subscriber: records (send time, receive time) of every bench event."""

    def __init__(self, pubsub: str, topic: str = TOPIC) -> None:
        self.pubsub = pubsub
        self.topic = topic
        self.received: dict[int, float] = {}
        self.count = 0
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/dapr/subscribe", self._subscribe)
        app.router.add_post("/bench", self._event)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _subscribe(self, _: web.Request) -> web.Response:
        return web.json_response(
            [{"pubsubname": self.pubsub, "topic": self.topic, "route": "/bench"}]
        )

    async def _event(self, request: web.Request) -> web.Response:
        now = time.perf_counter()
        event = await request.json()
        data = event.get("data") or {}
        self.count += 1
        if isinstance(data, dict) and "seq" in data:
            self.received.setdefault(data["seq"], now - data["t"])
        return web.Response(status=200)


def body(seq: int) -> bytes:
    return json.dumps({"seq": seq, "t": time.perf_counter(), "pad": PAYLOAD_PAD}).encode()


async def _workers(
    n: int, duration: float, warmup: float, op: Callable[[int], Awaitable[None]]
) -> tuple[int, list[float]]:
    """Run ``n`` workers calling ``op`` for warmup + duration; (completed, latencies) in the
    measured window."""
    seq = iter(range(1 << 62))
    start = time.perf_counter() + warmup
    stop = start + duration
    latencies: list[float] = []

    async def worker() -> None:
        while (now := time.perf_counter()) < stop:
            await op(next(seq))
            if now >= start:
                latencies.append(time.perf_counter() - now)

    await asyncio.gather(*(worker() for _ in range(n)))
    return len(latencies), latencies


async def bench_component(name: str, settings: Settings, work: Path, results: Results) -> None:
    pubsub = f"bench-{name}"
    app = App(pubsub, _topic(name))
    await app.start()
    resources = work / name
    resources.mkdir()
    (resources / "pubsub.yaml").write_text(COMPONENTS[name])
    side = Sidecar.spawn(  # PYTHONPATH: the sidecar runs this checkout, as this process
        work,
        app_id="bench",
        resources=resources,
        extra_args=["--app-port", str(app.port)],
        env={"PYTHONPATH": str(REPO)},
    )
    try:
        side.wait_ready()
        url = f"http://127.0.0.1:{side.http_port}/v1.0/publish/{pubsub}/{_topic(name)}"
        headers = {"Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=settings.concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:
            deadline = time.monotonic() + 30
            while app.count == 0:  # the subscription is open once a probe event arrives
                async with http.post(url, data=body(-1), headers=headers) as r:
                    r.raise_for_status()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no delivery within 30 s:\n{side.logs()}")
                await asyncio.sleep(0.1)

            async def publish_http(seq: int) -> None:
                async with http.post(url, data=body(seq), headers=headers) as r:
                    if r.status != 204:
                        raise RuntimeError(f"publish: {r.status} {await r.text()}")

            done, lat = await _workers(
                settings.concurrency, settings.duration, settings.warmup, publish_http
            )
            results.samples.append(_sample(name, "publish-http", settings, done, lat))

            async with grpc.aio.insecure_channel(f"127.0.0.1:{side.grpc_port}") as channel:
                stub = dapr_pb2_grpc.DaprStub(channel)

                async def publish_grpc(seq: int) -> None:
                    await stub.PublishEvent(
                        pubsub_pb2.PublishEventRequest(
                            pubsub_name=pubsub,
                            topic=_topic(name),
                            data=body(seq),
                            data_content_type="application/json",
                        )
                    )

                done, lat = await _workers(
                    settings.concurrency, settings.duration, settings.warmup, publish_grpc
                )
                results.samples.append(_sample(name, "publish-grpc", settings, done, lat))

            for rate in settings.rates:
                results.samples.append(await _e2e_paced(name, app, publish_http, rate, settings))
            results.samples.append(await _e2e_max(name, app, publish_http, settings))
        if name in BASELINES:
            results.samples.append(
                {"component": name, "path": "direct", **await BASELINES[name](settings)}
            )
    finally:
        side.stop()
        await app.stop()
        if name in CLEANUPS:
            await CLEANUPS[name]()


def _sample(
    component: str, path: str, settings: Settings, done: int, lat: Sequence[float]
) -> dict[str, Any]:
    return {
        "component": component,
        "path": path,
        "concurrency": settings.concurrency,
        "ops_per_s": done / settings.duration,
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
    }


_SEQ_BASE = 1 << 40  # e2e sequence numbers never collide with the publish measurements


async def _e2e_paced(
    name: str, app: App, publish: Callable[[int], Awaitable[None]], rate: int, settings: Settings
) -> dict[str, Any]:
    base = _SEQ_BASE * (rate + 1)
    total = int(rate * settings.duration)
    start = time.perf_counter()
    tasks: list[asyncio.Future[None]] = []
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(publish(base + n)))
    await asyncio.gather(*tasks)
    drain = time.perf_counter() + 5
    while (  # noqa: ASYNC110 (polling what the app recorded)
        time.perf_counter() < drain
        and sum(1 for s in range(base, base + total) if s in app.received) < total
    ):
        await asyncio.sleep(0.05)
    lat = [app.received[s] for s in range(base, base + total) if s in app.received]
    return {
        "component": name,
        "path": f"e2e-{rate}",
        "sent": total,
        "lost": total - len(lat),
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
    }


async def _e2e_max(
    name: str, app: App, publish: Callable[[int], Awaitable[None]], settings: Settings
) -> dict[str, Any]:
    before = app.count
    done, _ = await _workers(settings.concurrency, settings.duration, 0.0, publish)
    delivered_in_window = app.count - before
    return {
        "component": name,
        "path": "e2e-max",
        "concurrency": settings.concurrency,
        "published_per_s": done / settings.duration,
        "delivered_per_s": delivered_in_window / settings.duration,
    }


def table(samples: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'component':<12} {'path':<14} {'msg/s':>10} {'p50 ms':>8} {'p99 ms':>8}  notes"]
    for s in samples:
        rate = s.get("ops_per_s", s.get("delivered_per_s", math.nan))
        notes = f"lost {s['lost']}/{s['sent']}" if "lost" in s else ""
        if "published_per_s" in s:
            notes = f"published {s['published_per_s']:.0f}/s"
        lines.append(
            f"{s['component']:<12} {s['path']:<14} {rate:>10.0f} "
            f"{s.get('p50_ms', math.nan):>8.2f} {s.get('p99_ms', math.nan):>8.2f}  {notes}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", default="in-memory")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rates", default="100,1000")
    parser.add_argument("--quick", action="store_true", help="1 s runs, 0.25 s warm-up")
    args = parser.parse_args(argv)
    settings = Settings(
        components=[c for c in args.components.split(",") if c],
        duration=1.0 if args.quick else args.duration,
        concurrency=args.concurrency,
        rates=[int(r) for r in args.rates.split(",") if r],
        warmup=0.25 if args.quick else args.warmup,
    )
    unknown = [c for c in settings.components if c not in COMPONENTS]
    if unknown:
        parser.error(f"unknown components {unknown}; known: {sorted(COMPONENTS)}")
    results = Results(machine=machine(), revision=git_revision(), settings=asdict(settings))
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run

    async def run_all(work: Path) -> None:
        for name in settings.components:
            await bench_component(name, settings, work, results)

    with tempfile.TemporaryDirectory() as tmp:
        runner(run_all(Path(tmp)))
    print(table(results.samples))
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"pubsub-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(asdict(results), indent=2))
    print(f"\nresults: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
