"""State API throughput and latency through Tandem, beside the same work done directly.

    python bench/state.py [--duration 5] [--stores redis,sqlite] [--concurrency 1,16] [--quick]

One run starts one sidecar (its own process, ``tandem run`` with a resources folder holding a
``state.redis`` and a ``state.sqlite`` component) and drives it from this process: one asyncio
event loop (uvloop when installed, as the sidecar uses), N concurrent workers per measurement.
For every store, operation (GET, SAVE) and concurrency it measures, back to back, these paths:

- ``direct``: what an app would do without Tandem. Redis: redis-py's asyncio client
  (``redis.asyncio.Redis``, default connection pool) doing ``GET key`` / ``SET key value`` on a
  plain string key. SQLite: aiosqlite, one connection in autocommit mode with the store's
  durability settings (WAL, ``synchronous=NORMAL``) on a file of its own, doing
  ``SELECT value FROM kv WHERE key = ?`` / ``INSERT OR REPLACE INTO kv (key, value) VALUES
  (?, ?)``.
- ``component``: Tandem's store class loaded in this process and called directly (no API, no
  second process): what the driver itself costs (Redis: a Lua script keeping Dapr's hash layout
  and ETags; SQLite: the store's statements with ETag/TTL columns).
- ``http``: Tandem's HTTP API with aiohttp (one ``ClientSession``, keep-alive ``TCPConnector``
  with ``limit`` = concurrency): ``GET /v1.0/state/<store>/<key>`` (200 + body) and ``POST
  /v1.0/state/<store>`` with ``[{"key": k, "value": <the JSON value>}]`` (204).
- ``grpc``: Tandem's gRPC API with ``grpc.aio`` (one insecure channel) and the generated
  ``DaprStub``: ``GetState`` / ``SaveState`` with one ``StateItem``.

The value is a fixed 100-byte JSON document; keys cycle through 256 keys that are written
before the GETs, so every GET hits. Each measurement runs its workers for a warm-up, then counts
the operations that complete within ``--duration`` seconds: throughput = completed / duration,
latency percentiles over those operations (nearest rank). CPU time of this process (client) and
of the sidecar over the window is reported per operation, and the machine's busy share, because
client, sidecar and the backend share the same cores.

Ratios printed (targets from the issue): Tandem GET throughput at the highest concurrency vs
``direct`` (>= 0.5), and added p50 at the lowest concurrency (Tandem p50 - direct p50,
< 150 us); for HTTP and gRPC, GET and SAVE. Results also go to
``bench/results/state-<timestamp>.json``. Redis keys live under ``tandem-bench-<run id>`` and are
deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp
import aiosqlite
import grpc
from _common import (
    REPO,
    Sidecar,
    cpu_seconds,
    git_revision,
    machine,
    redis_component,
    sqlite_component,
    verdict,
)
from _profile import Profiler, summarise
from redis.asyncio import Redis

from components.base import ComponentContext
from components.state import GetRequest, SetRequest, StateStore
from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2_grpc, metadata_pb2, state_pb2
from runtime.registry import Registry

THROUGHPUT_TARGET = 0.5  # Tandem GET ops/s at the highest concurrency / direct
ADDED_P50_TARGET_US = 150.0  # Tandem p50 - direct p50 at the lowest concurrency
NKEYS = 256
PATHS = ("direct", "component", "http", "grpc", "http-noop", "grpc-noop")
DEFAULT_PATHS = ("direct", "component", "http", "grpc")
OPS = ("get", "save")
STORE_TYPES = {"redis": "state.redis", "sqlite": "state.sqlite"}


def _value() -> bytes:
    """A 100-byte JSON document."""
    head = b'{"id":"order-0001","status":"pending","items":[1,2,3],"note":"'
    value = head + b"x" * (100 - len(head) - 2) + b'"}'
    assert len(value) == 100
    json.loads(value)
    return value


VALUE = _value()
KEYS = [f"k{i:04d}" for i in range(NKEYS)]

Op = Callable[[str], Awaitable[None]]


@dataclass
class Target:
    """One way of doing GET and SAVE; ``close`` releases what it opened."""

    path: str
    get: Op
    save: Op
    close: Callable[[], Awaitable[None]]


@dataclass
class Sample:
    store: str
    op: str
    concurrency: int
    path: str
    round: int
    duration_s: float
    ops: int
    ops_per_s: float
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float
    client_cpu_us_per_op: float
    sidecar_cpu_us_per_op: float | None
    redis_cpu_us_per_op: float | None
    machine_busy_pct: float  # all CPUs of the machine, 100 = every CPU busy
    foreign_pct: float  # share of the machine used by other processes than ours (noise)


@dataclass
class Ratio:
    store: str
    path: str
    op: str
    kind: str  # "throughput" | "added_p50_us"
    concurrency: int
    value: float
    target: str
    ok: bool


@dataclass
class Results:
    date: str
    command: str
    machine: dict[str, object]
    settings: dict[str, object]
    samples: list[Sample] = field(default_factory=list)  # every round
    best: list[Sample] = field(default_factory=list)  # per cell, the round with most ops/s
    ratios: list[Ratio] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)


# ---- measurement --------------------------------------------------------------------------


def _jiffies() -> tuple[int, int, int]:
    """(busy, task, total) jiffies of all CPUs from /proc/stat. ``task`` is user + nice +
    system: time charged to processes; ``busy`` adds irq, softirq and steal (the loopback
    traffic's softirq work is not charged to the processes that cause it)."""
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = (
            int(x) for x in f.readline().split()[1:9]
        )
    task = user + nice + system
    busy = task + irq + softirq + steal
    return busy, task, busy + idle + iowait


def _percentile(sorted_ns: Sequence[int], p: float) -> float:
    """Nearest-rank percentile in microseconds."""
    if not sorted_ns:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1000


class _Window:
    def __init__(self) -> None:
        self.start = 1 << 62
        self.end = 1 << 62


@dataclass
class Counters:
    """CPU seconds so far of the client, the sidecar and Redis, and the machine's jiffies."""

    client: float
    sidecar: float
    redis: float
    busy: int
    task: int
    total: int


class Meter:
    """Reads the counters; ``redis`` (a client) is used for ``INFO cpu`` when given."""

    def __init__(self, sidecar_pid: int | None, redis: Redis | None) -> None:
        self.sidecar_pid = sidecar_pid
        self.redis = redis

    async def read(self) -> Counters:
        redis_cpu = 0.0
        if self.redis is not None:
            info = await self.redis.info("cpu")
            redis_cpu = float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        busy, task, total = _jiffies()
        return Counters(
            client=time.process_time(),
            sidecar=cpu_seconds(self.sidecar_pid) if self.sidecar_pid else 0.0,
            redis=redis_cpu,
            busy=busy,
            task=task,
            total=total,
        )


@dataclass
class Measured:
    latencies_ns: list[int]
    wall_s: float
    client_cpu_s: float
    sidecar_cpu_s: float | None
    redis_cpu_s: float | None
    busy_share: float  # of all CPUs
    foreign_share: float  # of all CPUs: process time not of client, sidecar or Redis


async def measure(
    op: Op, *, concurrency: int, warmup: float, duration: float, meter: Meter
) -> Measured:
    """Run ``concurrency`` workers calling ``op``: a warm-up, then the operations that complete
    within ``duration`` seconds are recorded."""
    window = _Window()
    latencies: list[int] = []
    clock = time.perf_counter_ns

    async def worker(w: int) -> None:
        n = w
        while True:
            key = KEYS[n % NKEYS]
            n += concurrency
            t0 = clock()
            await op(key)
            t1 = clock()
            if t1 >= window.start:
                if t1 > window.end:
                    return
                latencies.append(t1 - t0)

    tasks = [asyncio.create_task(worker(w)) for w in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        c0 = await meter.read()
        window.start = clock()
        window.end = window.start + int(duration * 1e9)
        await asyncio.sleep(duration)
        c1 = await meter.read()
        wall = (clock() - window.start) / 1e9
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    ncpu = len(os.sched_getaffinity(0))
    jiffies = max(c1.total - c0.total, 1)
    busy_share = (c1.busy - c0.busy) / jiffies
    ours = (c1.client - c0.client) + (c1.sidecar - c0.sidecar) + (c1.redis - c0.redis)
    task_share = (c1.task - c0.task) / jiffies
    foreign = max(0.0, task_share - ours / (wall * ncpu))
    return Measured(
        latencies_ns=latencies,
        wall_s=wall,
        client_cpu_s=c1.client - c0.client,
        sidecar_cpu_s=(c1.sidecar - c0.sidecar) if meter.sidecar_pid else None,
        redis_cpu_s=(c1.redis - c0.redis) if meter.redis is not None else None,
        busy_share=busy_share,
        foreign_share=foreign,
    )


def make_sample(
    m: Measured, *, store: str, op: str, concurrency: int, path: str, rnd: int, duration: float
) -> Sample:
    lat = sorted(m.latencies_ns)
    n = len(lat)

    def per_op(cpu: float | None) -> float | None:
        return None if cpu is None or not n else cpu / n * 1e6

    return Sample(
        store=store,
        op=op,
        concurrency=concurrency,
        path=path,
        round=rnd,
        duration_s=duration,
        ops=n,
        ops_per_s=n / duration,
        p50_us=_percentile(lat, 50),
        p90_us=_percentile(lat, 90),
        p99_us=_percentile(lat, 99),
        mean_us=(sum(lat) / n / 1000) if n else float("nan"),
        client_cpu_us_per_op=per_op(m.client_cpu_s) or float("nan"),
        sidecar_cpu_us_per_op=per_op(m.sidecar_cpu_s),
        redis_cpu_us_per_op=per_op(m.redis_cpu_s),
        machine_busy_pct=m.busy_share * 100,
        foreign_pct=m.foreign_share * 100,
    )


async def populate(op: Op, keys: Sequence[str] = KEYS, concurrency: int = 16) -> None:
    async def worker(w: int) -> None:
        for key in keys[w::concurrency]:
            await op(key)

    await asyncio.gather(*(worker(w) for w in range(concurrency)))


# ---- targets ------------------------------------------------------------------------------


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host, int(port)) if host else (text, 6379)


async def direct_redis(host: str, prefix: str) -> Target:
    h, p = _host_port(host)
    client = Redis(host=h, port=p)

    async def get(key: str) -> None:
        if await client.get(prefix + key) is None:
            raise RuntimeError(f"direct redis GET {key}: missing")

    async def save(key: str) -> None:
        await client.set(prefix + key, VALUE)

    async def close() -> None:
        await client.aclose()

    return Target("direct", get, save, close)


async def direct_sqlite(path: Path) -> Target:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = NORMAL")
    await conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT NOT NULL PRIMARY KEY, value BLOB)")

    async def get(key: str) -> None:
        rows = await conn.execute_fetchall("SELECT value FROM kv WHERE key = ?", (key,))
        if not rows:
            raise RuntimeError(f"direct sqlite GET {key}: missing")

    async def save(key: str) -> None:
        await conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, VALUE))

    return Target("direct", get, save, conn.close)


async def component(store_type: str, values: dict[str, str], home: Path, prefix: str) -> Target:
    """The store class in this process, keys prefixed as the sidecar would (``appid||``)."""
    cls = Registry().resolve(store_type)
    instance = cls(
        cls.Metadata.model_validate(values),
        context=ComponentContext(name="bench", app_id="bench", namespace="default", home=home),
    )
    await instance.init()
    store = cast(StateStore, instance)

    async def get(key: str) -> None:
        if await store.get(GetRequest(key=prefix + key)) is None:
            raise RuntimeError(f"component GET {key}: missing")

    async def save(key: str) -> None:
        await store.set(SetRequest(key=prefix + key, value=VALUE))

    return Target("component", get, save, instance.close)


async def http_api(base: str, store: str, concurrency: int) -> Target:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60),
        headers={"Content-Type": "application/json"},
    )
    get_url = f"{base}/v1.0/state/{store}/"
    save_url = f"{base}/v1.0/state/{store}"
    head = b'[{"key":"'
    mid = b'","value":' + VALUE + b"}]"

    async def get(key: str) -> None:
        async with session.get(get_url + key) as resp:
            body = await resp.read()
            if resp.status != 200 or len(body) != len(VALUE):
                raise RuntimeError(f"HTTP GET {key}: {resp.status} {body[:200]!r}")

    async def save(key: str) -> None:
        async with session.post(save_url, data=head + key.encode() + mid) as resp:
            if resp.status != 204:
                raise RuntimeError(f"HTTP SAVE {key}: {resp.status} {(await resp.read())[:200]!r}")

    return Target("http", get, save, session.close)


async def grpc_api(target: str, store: str) -> Target:
    channel = grpc.aio.insecure_channel(target)
    stub = dapr_pb2_grpc.DaprStub(channel)

    async def get(key: str) -> None:
        resp = await stub.GetState(state_pb2.GetStateRequest(store_name=store, key=key))
        if len(resp.data) != len(VALUE):
            raise RuntimeError(f"gRPC GET {key}: {resp!r}")

    async def save(key: str) -> None:
        await stub.SaveState(
            state_pb2.SaveStateRequest(
                store_name=store, states=[common_pb2.StateItem(key=key, value=VALUE)]
            )
        )

    async def close() -> None:
        await channel.close(None)

    return Target("grpc", get, save, close)


async def http_noop(base: str, concurrency: int) -> Target:
    """The HTTP API's floor: ``GET /v1.0/healthz/outbound`` (204) through the same server and
    middlewares, no state work; GET and SAVE are the same call."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60)
    )
    url = f"{base}/v1.0/healthz/outbound"

    async def call(key: str) -> None:
        async with session.get(url) as resp:
            await resp.read()
            if resp.status != 204:
                raise RuntimeError(f"HTTP healthz: {resp.status}")

    return Target("http-noop", call, call, session.close)


async def grpc_noop(target: str) -> Target:
    """The gRPC API's floor: ``SetMetadata`` (sets one attribute in a dict), no state work."""
    channel = grpc.aio.insecure_channel(target)
    stub = dapr_pb2_grpc.DaprStub(channel)
    request = metadata_pb2.SetMetadataRequest(key="tandem-bench", value="1")

    async def call(key: str) -> None:
        await stub.SetMetadata(request)

    async def close() -> None:
        await channel.close(None)

    return Target("grpc-noop", call, call, close)


# ---- the run ------------------------------------------------------------------------------


@dataclass
class Settings:
    stores: list[str]
    concurrency: list[int]
    paths: list[str]
    ops: list[str]
    duration: float
    warmup: float
    redis_host: str
    quick: bool
    repeat: int
    sidecar_args: list[str]
    sidecar_env: list[str]
    profile: list[str] = field(default_factory=list)  # "store:op:concurrency:path"
    profile_native: bool = False
    py_spy_args: list[str] = field(default_factory=list)


def _progress(s: Sample) -> None:
    print(
        f"  [{s.round}] {s.store:<6} {s.op:<4} c={s.concurrency:<3} {s.path:<9}"
        f" {s.ops_per_s:>9.0f} ops/s  p50 {s.p50_us:>7.0f} us  p99 {s.p99_us:>7.0f} us"
        f"  foreign {s.foreign_pct:>3.0f}%",
        file=sys.stderr,
        flush=True,
    )


async def run(settings: Settings, work: Path, results: Results) -> None:
    run_id = secrets.token_hex(4)
    app_id = f"tandem-bench-{run_id}"
    redis_prefix = f"tandem-bench-{run_id}"
    resources = work / "resources"
    resources.mkdir()
    comp_names = {"redis": "bench-redis", "sqlite": "bench-sqlite"}
    if "redis" in settings.stores:
        (resources / "redis.yaml").write_text(
            redis_component(comp_names["redis"], settings.redis_host)
        )
    if "sqlite" in settings.stores:
        (resources / "sqlite.yaml").write_text(
            sqlite_component(comp_names["sqlite"], work / "sidecar.db")
        )
    side = Sidecar.spawn(
        work,
        app_id=app_id,
        resources=resources,
        extra_args=settings.sidecar_args,
        env=dict(e.split("=", 1) for e in settings.sidecar_env),
    )
    results.settings["sidecar_pid"] = side.pid
    info: Redis | None = None
    if "redis" in settings.stores:
        h, p = _host_port(settings.redis_host)
        info = Redis(host=h, port=p)
    try:
        side.wait_ready()
        print(f"sidecar pid {side.pid} ready (app id {app_id})", file=sys.stderr, flush=True)
        bench = _StoreBench(settings, side, work, redis_prefix, comp_names, results, info)
        for store in settings.stores:
            await bench.populate(store)
        for rnd in range(1, settings.repeat + 1):
            for store in settings.stores:
                await bench.run(store, rnd)
    finally:
        side.stop()
        if info is not None:
            await _delete_redis_keys(info, redis_prefix)
            await info.aclose()


class _StoreBench:
    def __init__(
        self,
        settings: Settings,
        side: Sidecar,
        work: Path,
        redis_prefix: str,
        comp_names: dict[str, str],
        results: Results,
        info: Redis | None,
    ) -> None:
        self.settings = settings
        self.side = side
        self.work = work
        self.redis_prefix = redis_prefix
        self.comp_names = comp_names
        self.results = results
        self.info = info

    async def open_target(self, store: str, path: str, concurrency: int) -> Target:
        settings, work = self.settings, self.work
        base = f"http://127.0.0.1:{self.side.http_port}"
        grpc_target = f"127.0.0.1:{self.side.grpc_port}"
        name = self.comp_names[store]
        if path == "direct":
            if store == "redis":
                return await direct_redis(settings.redis_host, f"{self.redis_prefix}:direct:")
            return await direct_sqlite(work / "direct.db")
        if path == "component":
            if store == "redis":
                values = {"redisHost": settings.redis_host}
                return await component(
                    STORE_TYPES[store], values, work, f"{self.redis_prefix}-component||"
                )
            values = {"connectionString": str(work / "component.db")}
            return await component(STORE_TYPES[store], values, work, "")
        if path == "http":
            return await http_api(base, name, concurrency)
        if path == "http-noop":
            return await http_noop(base, concurrency)
        if path == "grpc-noop":
            return await grpc_noop(grpc_target)
        return await grpc_api(grpc_target, name)

    async def populate(self, store: str) -> None:
        """Write every key on every path, so that every GET hits."""
        for path in self.settings.paths:
            if not path.endswith("-noop"):
                await self.populate_path(store, path)

    async def populate_path(self, store: str, path: str) -> None:
        target = await self.open_target(store, path, 16)
        try:
            await populate(target.save)
        finally:
            await target.close()

    async def run(self, store: str, rnd: int) -> None:
        settings = self.settings
        for op in settings.ops:
            for concurrency in settings.concurrency:
                for path in settings.paths:
                    sample = await self.retrying(store, op, concurrency, path, rnd)
                    self.results.samples.append(sample)
                    _progress(sample)

    async def retrying(
        self, store: str, op: str, concurrency: int, path: str, rnd: int, attempts: int = 3
    ) -> Sample:
        """``one``, again after a pause when it fails (the shared Redis may be restarted)."""
        for attempt in range(1, attempts + 1):
            try:
                return await self.one(store, op, concurrency, path, rnd)
            except Exception as exc:
                if attempt == attempts:
                    raise
                print(
                    f"  {store} {op} c={concurrency} {path} failed ({exc!r:.200}); retrying in 3 s",
                    file=sys.stderr,
                )
                await asyncio.sleep(3)
                if path not in ("http-noop", "grpc-noop"):
                    await self.populate_path(store, path)
        raise AssertionError("unreachable")

    async def one(self, store: str, op: str, concurrency: int, path: str, rnd: int) -> Sample:
        settings = self.settings
        target = await self.open_target(store, path, concurrency)
        profiler = None
        if f"{store}:{op}:{concurrency}:{path}" in settings.profile:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = REPO / "bench" / "results" / "profiles"
            out /= f"{stamp}-{store}-{op}-c{concurrency}-{path}.txt"
            seconds = settings.warmup + settings.duration
            profiler = Profiler(
                self.side.pid,
                out,
                seconds,
                native=settings.profile_native,
                extra=settings.py_spy_args,
            )
            await profiler.start()
        meter = Meter(
            None if path in ("direct", "component") else self.side.pid,
            self.info if store == "redis" else None,
        )
        try:
            measured = await measure(
                target.get if op == "get" else target.save,
                concurrency=concurrency,
                warmup=settings.warmup,
                duration=settings.duration,
                meter=meter,
            )
        finally:
            await target.close()
            if profiler is not None:
                await profiler.wait()
                self.results.profiles.append(str(profiler.out.relative_to(REPO)))
                print(summarise(profiler.out, 25), file=sys.stderr)
        return make_sample(
            measured,
            store=store,
            op=op,
            concurrency=concurrency,
            path=path,
            rnd=rnd,
            duration=settings.duration,
        )


async def _delete_redis_keys(client: Redis, prefix: str) -> None:
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            await client.delete(*batch)
            batch.clear()
    if batch:
        await client.delete(*batch)


def best_of(samples: Sequence[Sample]) -> list[Sample]:
    """Per (store, op, concurrency, path), the round with the most ops/s (least disturbed)."""
    best: dict[tuple[str, str, int, str], Sample] = {}
    for s in samples:
        k = (s.store, s.op, s.concurrency, s.path)
        if k not in best or s.ops_per_s > best[k].ops_per_s:
            best[k] = s
    return list(best.values())


# ---- reporting ----------------------------------------------------------------------------


def ratios(samples: Sequence[Sample]) -> list[Ratio]:
    by = {(s.store, s.op, s.concurrency, s.path): s for s in samples}
    concs = sorted({s.concurrency for s in samples})
    if not concs:
        return []
    lo, hi = concs[0], concs[-1]
    out: list[Ratio] = []
    for store in dict.fromkeys(s.store for s in samples):
        for path in ("http", "grpc"):
            for op in OPS:
                direct_hi = by.get((store, op, hi, "direct"))
                tandem_hi = by.get((store, op, hi, path))
                if direct_hi and tandem_hi and direct_hi.ops_per_s:
                    r = tandem_hi.ops_per_s / direct_hi.ops_per_s
                    out.append(
                        Ratio(
                            store,
                            path,
                            op,
                            "throughput",
                            hi,
                            r,
                            f">= {THROUGHPUT_TARGET:g}",
                            r >= THROUGHPUT_TARGET,
                        )
                    )
                direct_lo = by.get((store, op, lo, "direct"))
                tandem_lo = by.get((store, op, lo, path))
                if direct_lo and tandem_lo:
                    added = tandem_lo.p50_us - direct_lo.p50_us
                    out.append(
                        Ratio(
                            store,
                            path,
                            op,
                            "added_p50_us",
                            lo,
                            added,
                            f"< {ADDED_P50_TARGET_US:g} us",
                            added < ADDED_P50_TARGET_US,
                        )
                    )
    return out


def table(samples: Sequence[Sample]) -> str:
    head = (
        f"{'store':<7}{'op':<5}{'c':>3}  {'path':<10}{'ops/s':>9}{'p50 us':>9}{'p90 us':>9}"
        f"{'p99 us':>9}{'vs direct':>10}{'client':>8}{'sidecar':>8}{'redis':>7}{'busy':>6}"
        f"{'foreign':>8}"
    )
    lines = [head, "-" * len(head)]
    by = {(s.store, s.op, s.concurrency, s.path): s for s in samples}
    for s in samples:
        d = by.get((s.store, s.op, s.concurrency, "direct"))
        rel = f"{s.ops_per_s / d.ops_per_s:.2f}x" if d and d.ops_per_s else "-"
        side = "-" if s.sidecar_cpu_us_per_op is None else f"{s.sidecar_cpu_us_per_op:.0f}"
        red = "-" if s.redis_cpu_us_per_op is None else f"{s.redis_cpu_us_per_op:.0f}"
        lines.append(
            f"{s.store:<7}{s.op.upper():<5}{s.concurrency:>3}  {s.path:<10}{s.ops_per_s:>9.0f}"
            f"{s.p50_us:>9.0f}{s.p90_us:>9.0f}{s.p99_us:>9.0f}{rel:>10}"
            f"{s.client_cpu_us_per_op:>8.0f}{side:>8}{red:>7}{s.machine_busy_pct:>5.0f}%"
            f"{s.foreign_pct:>7.0f}%"
        )
    lines.append(
        "client / sidecar / redis: CPU us per operation in the bench process / the sidecar /"
        " redis-server (INFO cpu,\nthe whole server: shared); busy: all CPUs of the machine (with"
        " irq/softirq); foreign: process time of other\nprocesses, as a share of the machine"
        " (noise from other work on the machine)"
    )
    return "\n".join(lines)


def ratio_lines(rs: Sequence[Ratio]) -> str:
    lines = []
    for r in rs:
        if r.kind == "throughput":
            what = f"{r.op.upper()} throughput at c={r.concurrency}, Tandem {r.path} / direct"
            val = f"{r.value:.2f}"
        else:
            what = f"{r.op.upper()} added p50 at c={r.concurrency}, Tandem {r.path} - direct"
            val = f"{r.value:.0f} us"
        lines.append(f"{r.store:<7}{what:<52}{val:>9}   target {r.target:<9} {verdict(r.ok)}")
    return "\n".join(lines)


def _loop_runner() -> tuple[str, Callable[[Coroutine[Any, Any, None]], None]]:
    try:
        import uvloop

        return "uvloop", uvloop.run
    except ImportError:  # pragma: no cover
        return "asyncio", asyncio.run


def parse(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds (default 1; quick 0.25)"
    )
    parser.add_argument("--stores", default="redis,sqlite", help="comma list of redis, sqlite")
    parser.add_argument("--concurrency", default="1,16", help="comma list of worker counts")
    parser.add_argument(
        "--paths",
        default=",".join(DEFAULT_PATHS),
        help=f"comma list of {', '.join(PATHS)} (default {','.join(DEFAULT_PATHS)})",
    )
    parser.add_argument("--ops", default=",".join(OPS), help="comma list of get, save")
    parser.add_argument("--quick", action="store_true", help="1 s runs (CI smoke)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the whole matrix; the table keeps each cell's best round (default 1)",
    )
    parser.add_argument("--redis-host", default="127.0.0.1:6379")
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="STORE:OP:C:PATH",
        help="sample the sidecar with py-spy during this measurement, e.g. redis:get:16:http"
        " (repeatable; the samples cost CPU, so do not compare those figures)",
    )
    parser.add_argument(
        "--profile-native", action="store_true", help="py-spy --native (C and Cython frames)"
    )
    parser.add_argument(
        "--py-spy-arg",
        action="append",
        default=[],
        help="extra py-spy record flag, e.g. --py-spy-arg=--gil (repeatable)",
    )
    parser.add_argument(
        "--sidecar-arg", action="append", default=[], help="extra 'tandem run' flag (repeatable)"
    )
    parser.add_argument(
        "--sidecar-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment variable for the sidecar (repeatable)",
    )
    ns = parser.parse_args(argv)
    if any("=" not in e for e in ns.sidecar_env):
        parser.error("--sidecar-env takes NAME=VALUE")
    stores = [s.strip() for s in ns.stores.split(",") if s.strip()]
    paths = [p.strip() for p in ns.paths.split(",") if p.strip()]
    ops = [o.strip() for o in ns.ops.split(",") if o.strip()]
    bad = [s for s in stores if s not in STORE_TYPES] + [p for p in paths if p not in PATHS]
    bad += [o for o in ops if o not in OPS]
    if bad:
        parser.error(f"unknown store or path: {', '.join(bad)}")
    if "direct" not in paths:
        paths.insert(0, "direct")
    duration = 1.0 if ns.quick else ns.duration
    warmup = ns.warmup if ns.warmup is not None else (0.25 if ns.quick else 1.0)
    return Settings(
        stores=stores,
        concurrency=[int(c) for c in ns.concurrency.split(",") if c.strip()],
        paths=[p for p in PATHS if p in paths],
        ops=[o for o in OPS if o in ops],
        duration=duration,
        warmup=warmup,
        redis_host=ns.redis_host,
        quick=ns.quick,
        repeat=max(1, ns.repeat),
        sidecar_args=list(ns.sidecar_arg),
        sidecar_env=list(ns.sidecar_env),
        profile=list(ns.profile),
        profile_native=ns.profile_native,
        py_spy_args=list(ns.py_spy_arg),
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse(argv)
    # py-spy is started as a child of this process, which runs gRPC's threads: skip gRPC's
    # fork handlers (they would only log that they are skipped).
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    loop_name, runner = _loop_runner()
    results = Results(
        date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        command=" ".join(["python bench/state.py", *(sys.argv[1:] if argv is None else argv)]),
        machine={**machine(), "git": git_revision()},
        settings={
            **asdict(settings),
            "client_loop": loop_name,
            "value_bytes": len(VALUE),
            "keys": NKEYS,
        },
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp:
        runner(run(settings, Path(tmp), results))
    results.best = best_of(results.samples)
    results.ratios = ratios(results.best)
    cpus = results.machine["cpus_usable"]
    print(
        f"\nTandem state API vs direct: {settings.duration:g} s per measurement after"
        f" {settings.warmup:g} s warm-up; {cpus} CPUs shared by client, sidecar and backend;"
        f" client loop {loop_name}; {len(VALUE)}-byte JSON value\n"
    )
    if settings.repeat > 1:
        print(f"best of {settings.repeat} rounds per cell (most ops/s); every round in the JSON\n")
    print(table(results.best))
    print()
    print(ratio_lines(results.ratios))
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"state-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(asdict(results), indent=2))
    print(f"\nresults: {out.relative_to(REPO)} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
