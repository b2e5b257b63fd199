"""Pub/sub through Tandem beside the same broker driven directly, per durable component.

    python bench/pubsub.py [--components sqlite,redis,jetstream,rabbitmq,mqtt3] [--duration 5]
                           [--concurrency 16] [--rates 100,1000] [--quick]
                           [--tree before=/path/to/other/checkout] [--profile redis:publish-http]

Per component, two sidecars (``tandem run``, each its own process), as two apps would have: the
publisher's (no app) and the subscriber's, whose app is this process: an aiohttp app on a free
port answering ``GET /dapr/subscribe`` with one subscription (a fresh topic, route ``/bench``)
and acknowledging every event (200, empty body). ``in-memory`` has no broker between
processes: one sidecar does both. The load generator runs in this process's event loop (uvloop
when installed, as the sidecars use).

Figures (``--concurrency`` publishers, each awaiting its publish; latencies by nearest rank):

- ``publish-http``: POST ``/v1.0/publish/<pubsub>/<topic>`` (a ~100-byte JSON body) on one
  keep-alive aiohttp session: msgs/s, publish-call p50/p99;
- ``publish-grpc``: the same through ``grpc.aio`` and the generated ``DaprStub.PublishEvent``;
- ``e2e-<rate>``: publishes over HTTP paced at <rate> msg/s; latency = the app's receive time -
  the send time (same clock); ``lost`` counts what never arrived within a 5 s drain;
- ``e2e-max``: the publishers at full speed over HTTP: delivered msgs/s, p50/p99 latency;
- ``pub µs``, ``sub µs``: each sidecar's CPU time (user + system, /proc) during the figure,
  per message published.

The direct baseline (``path`` = ``direct``) does the same work on the same broker from Python
with the client an app would use: redis-py (``XADD``; ``XREADGROUP`` + ``XACK``), sqlite3 on a
WAL file (``INSERT`` per message in a thread; a reader polling every 1 ms), nats-py (JetStream
publish acks; pull consumer), aio-pika (publisher confirms, persistent; manual acks), aiomqtt
(QoS 1; a ``$share`` subscription). ``vs direct`` = Tandem msgs/s / direct msgs/s
(``publish-*`` beside ``publish``, ``e2e-*`` beside the same ``e2e-*``).

``--tree LABEL=PATH`` (repeatable) runs the sidecar from another checkout too (its
``PYTHONPATH``), in the same run, e.g. the code before a change; the default is this checkout
as ``tandem``. ``--rounds N`` repeats everything, alternating nothing else. ``--profile
COMPONENT:FIGURE[:LABEL]`` samples the sidecar with py-spy during that figure (see
``bench/_profile.py``). ``--service-layer`` measures only the CPU of one
``PubSubService.publish`` (envelope, checks, metrics) on a no-op component, per ``--tree``.

Every run uses fresh topic names and deletes its streams, queues and exchanges. Results go to
``bench/results/pubsub-<timestamp>.json`` with the machine, the git revision and the load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# this checkout's protos (the sidecar runs this checkout too), even when the venv's editable
# install points at another checkout (git worktrees)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import grpc
from _common import REPO, Sidecar, cpu_seconds, free_port, git_revision, machine
from _profile import Profiler, summarise
from aiohttp import web
from pubsub_brokers import AMQP, MQTT, NATS, MqttDirect, NatsDirect, RabbitDirect, Side, age, stamp

from protos.dapr.runtime.v1 import dapr_pb2_grpc, pubsub_pb2

REDIS = "127.0.0.1:6379"
PAYLOAD_PAD = "x" * 60
DURABLE = ("sqlite", "redis", "jetstream", "rabbitmq", "mqtt3")
TARGET_E2E_REDIS = 5000.0  # msg/s end to end, 16 publishers
TARGET_P99_MS = 20.0  # at 1,000 msg/s
TARGET_PUBLISH_RATIO = 0.5  # of the direct client's publish throughput


def manifest(component: str, topic: str) -> str:
    """The component file for one run; ``topic`` names the run's stream where one is needed."""
    head = f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: bench-{component}
spec:
  type: pubsub.{component}
  version: v1
"""
    meta: dict[str, str] = {
        "in-memory": {},
        "sqlite": {},
        "redis": {"redisHost": REDIS},
        "jetstream": {"natsURL": NATS, "streamName": f"BENCH_{topic}"},
        "rabbitmq": {"connectionString": AMQP},
        "mqtt3": {"url": f"tcp://{MQTT[0]}:{MQTT[1]}", "cleanSession": "true"},
    }[component]
    if not meta:
        return head
    items = "".join(f"  - name: {k}\n    value: {json.dumps(v)}\n" for k, v in meta.items())
    return head + "  metadata:\n" + items


async def cleanup(component: str, topic: str) -> None:
    """Delete what the sidecar left on the broker (its session ends with the sidecar)."""
    with contextlib.suppress(Exception):
        if component == "redis":
            import redis.asyncio as aredis

            host, _, port = REDIS.partition(":")
            client = aredis.Redis(host=host, port=int(port))
            await client.delete(topic)
            await client.aclose()
        elif component == "jetstream":
            import nats

            nc = await nats.connect(NATS)
            with contextlib.suppress(Exception):
                await nc.jetstream().delete_stream(f"BENCH_{topic}")
            await nc.close()
        elif component == "rabbitmq":
            import aio_pika

            conn = await aio_pika.connect(AMQP)
            channel = await conn.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(f"bench-{topic}")  # consumerID (app id)-topic
            with contextlib.suppress(Exception):
                await channel.exchange_delete(topic)
            await conn.close()


# ---- direct baselines ------------------------------------------------------------------------


class RedisDirect(Side):
    """redis-py: ``XADD`` per message; ``XREADGROUP BLOCK`` + ``XACK`` per batch."""

    async def open(self, topic: str, group: str) -> None:
        import redis.asyncio as aredis

        host, _, port = REDIS.partition(":")
        self.topic, self.group = topic, group
        pool = aredis.BlockingConnectionPool(host=host, port=int(port), max_connections=64)
        self.client = aredis.Redis.from_pool(pool)
        self.reader = aredis.Redis(host=host, port=int(port))
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def publish(self, data: bytes) -> None:
        await self.client.xadd(self.topic, {"data": data})

    async def subscribe(self, on_message: Callable[[bytes], None]) -> None:
        await self.client.xgroup_create(self.topic, self.group, "$", mkstream=True)

        async def consume() -> None:
            # stopped by a flag: cancelling redis-py during a blocking read can hang
            while not self.stop.is_set():
                reply: Any = await self.reader.xreadgroup(
                    self.group, "c", {self.topic: ">"}, count=100, block=100
                )
                ids = []
                for _, entries in reply or ():
                    for entry_id, fields in entries:
                        on_message(fields[b"data"])
                        ids.append(entry_id)
                if ids:
                    await self.client.xack(self.topic, self.group, *ids)

        self.task = asyncio.create_task(consume())

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task
        await self.client.delete(self.topic)
        await self.client.aclose()
        await self.reader.aclose()


class SqliteDirect(Side):
    """sqlite3 on a WAL file (``synchronous=NORMAL``): one autocommit ``INSERT`` per message on
    the connection's thread, as a non-blocking app would; a reader polling every 1 ms."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / f"direct-{uuid.uuid4().hex[:8]}.db"

    async def open(self, topic: str, group: str) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("CREATE TABLE m (seq INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB)")
        self.lock = asyncio.Lock()  # one connection, one statement at a time
        self.task: asyncio.Task[None] | None = None

    async def publish(self, data: bytes) -> None:
        async with self.lock:
            await asyncio.to_thread(self.conn.execute, "INSERT INTO m (data) VALUES (?)", (data,))

    async def subscribe(self, on_message: Callable[[bytes], None]) -> None:
        reader = sqlite3.connect(self.path, isolation_level=None)
        last = int(reader.execute("SELECT COALESCE(MAX(seq), 0) FROM m").fetchone()[0])

        async def poll() -> None:
            nonlocal last
            try:
                while True:
                    for seq, data in reader.execute(
                        "SELECT seq, data FROM m WHERE seq > ? ORDER BY seq", (last,)
                    ).fetchall():
                        on_message(data)
                        last = seq
                    await asyncio.sleep(0.001)
            finally:
                reader.close()

        self.task = asyncio.create_task(poll())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.conn.close()
        self.path.unlink(missing_ok=True)


def direct_side(component: str, folder: Path) -> Side | None:
    return {
        "sqlite": lambda: SqliteDirect(folder),
        "redis": RedisDirect,
        "jetstream": NatsDirect,
        "rabbitmq": RabbitDirect,
        "mqtt3": MqttDirect,
    }.get(component, lambda: None)()


# ---- shared measurement pieces ---------------------------------------------------------------


@dataclass
class Settings:
    components: list[str]
    duration: float
    concurrency: int
    rates: list[int]
    warmup: float
    trees: dict[str, Path]
    rounds: int = 1
    profile: list[str] = field(default_factory=list)  # component:figure[:label]


@dataclass
class Results:
    machine: dict[str, Any]
    revision: dict[str, Any]
    settings: dict[str, Any]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    samples: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def body(seq: int) -> bytes:
    return json.dumps({"seq": seq, "t": time.perf_counter(), "pad": PAYLOAD_PAD}).encode()


async def workers(
    n: int, duration: float, warmup: float, op: Callable[[], Awaitable[None]]
) -> tuple[int, list[float]]:
    """``n`` workers calling ``op`` for warmup + duration; (completed, latencies) in the window."""
    start = time.perf_counter() + warmup
    stop = start + duration
    latencies: list[float] = []

    async def worker() -> None:
        while (now := time.perf_counter()) < stop:
            await op()
            if now >= start:
                latencies.append(time.perf_counter() - now)

    await asyncio.gather(*(worker() for _ in range(n)))
    return len(latencies), latencies


async def paced(rate: int, duration: float, op: Callable[[], Coroutine[Any, Any, None]]) -> int:
    """Start ``op`` ``rate`` times a second for ``duration`` (an offered load: a slow publish
    does not lower the rate); the number started, once all have finished."""
    total = int(rate * duration)
    start = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(op()))
    await asyncio.gather(*tasks)
    return total


async def drain(received: Callable[[], int], expected: int, seconds: float = 5.0) -> None:
    deadline = time.perf_counter() + seconds
    while received() < expected and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


def sample(
    component: str,
    path: str,
    figure: str,
    count: int,
    seconds: float,
    lat: Sequence[float],
    **kw: Any,
) -> dict[str, Any]:
    return {
        "component": component,
        "path": path,
        "figure": figure,
        "msgs_per_s": count / seconds if seconds else math.nan,
        "p50_ms": percentile(lat, 50) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        **kw,
    }


# ---- direct ----------------------------------------------------------------------------------


async def bench_direct(component: str, settings: Settings, work: Path, results: Results) -> None:
    def make() -> Side:
        side = direct_side(component, work)
        assert side is not None
        return side

    n = settings.concurrency
    side = make()
    await side.open(f"bench{uuid.uuid4().hex[:10]}", "bench")
    try:
        count, lat = await workers(
            n, settings.duration, settings.warmup, lambda: side.publish(stamp())
        )
    finally:
        await side.close()
    results.samples.append(sample(component, "direct", "publish", count, settings.duration, lat))

    for rate in [*settings.rates, 0]:
        results.samples.append(await direct_e2e(component, make(), rate, settings))


async def direct_e2e(component: str, side: Side, rate: int, settings: Settings) -> dict[str, Any]:
    """``e2e-<rate>`` paced, or ``e2e-max`` (rate 0) with ``--concurrency`` publishers."""
    await side.open(f"bench{uuid.uuid4().hex[:10]}", "bench")
    ages: list[float] = []
    window = [False]

    def got(data: bytes) -> None:
        if window[0]:
            ages.append(age(data))

    async def publish() -> None:
        await side.publish(stamp())

    n = settings.concurrency
    try:
        await side.subscribe(got)
        if rate:
            window[0] = True
            sent = await paced(rate, settings.duration, publish)
            await drain(lambda: len(ages), sent)
            return sample(
                component,
                "direct",
                f"e2e-{rate}",
                len(ages),
                settings.duration,
                ages,
                sent=sent,
                lost=max(0, sent - len(ages)),
            )
        await workers(n, settings.warmup, 0, publish)
        window[0] = True
        started = time.perf_counter()
        count, _ = await workers(n, settings.duration, 0, publish)
        elapsed = time.perf_counter() - started
        window[0] = False
        return sample(
            component,
            "direct",
            "e2e-max",
            len(ages),
            elapsed,
            ages,
            published_per_s=count / elapsed,
        )
    finally:
        await side.close()


# ---- through Tandem --------------------------------------------------------------------------


class App:
    """The subscriber: records the delivery latency of every bench event by its sequence."""

    def __init__(self, pubsub: str, topic: str) -> None:
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

    def delivered(self, first: int, end: int) -> int:
        return sum(1 for s in range(first, end) if s in self.received)

    def between(self, first: int, end: int) -> list[float]:
        return [self.received[s] for s in range(first, end) if s in self.received]


class Figure:
    """The sidecars' CPU time (and optionally py-spy profiles) around one figure."""

    def __init__(
        self, sides: dict[str, Sidecar], key: str, settings: Settings, results: Results
    ) -> None:
        self.sides, self.key, self.settings, self.results = sides, key, settings, results
        self.profilers: list[Profiler] = []
        self.cpu: dict[str, float] = {}

    async def __aenter__(self) -> Figure:
        if self.key in self.settings.profile:
            seconds = self.settings.duration + self.settings.warmup
            for role, side in self.sides.items():
                name = f"{self.key.replace(':', '-')}-{role}{time.strftime('-%H%M%S')}.txt"
                out = REPO / "bench" / "results" / "profiles" / f"pubsub-{name}"
                self.profilers.append(Profiler(side.pid, out, seconds))
            for profiler in self.profilers:
                await profiler.start()
        self.cpu = {role: cpu_seconds(side.pid) for role, side in self.sides.items()}
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cpu = {role: cpu_seconds(s.pid) - self.cpu[role] for role, s in self.sides.items()}
        for profiler in self.profilers:
            await profiler.wait()
            self.results.profiles.append(str(profiler.out.relative_to(REPO)))
            print(summarise(profiler.out, 30), file=sys.stderr)

    def per_msg(self, messages: int) -> dict[str, float]:
        """CPU µs per message of each sidecar (``pub``: the publisher's, ``sub``: the
        subscriber's)."""
        return {
            f"cpu_{role}_us": cpu / messages * 1e6 if messages else math.nan
            for role, cpu in self.cpu.items()
        }


async def bench_tandem(
    component: str, label: str, tree: Path, settings: Settings, work: Path, results: Results
) -> None:
    pubsub = f"bench-{component}"
    topic = f"bench{uuid.uuid4().hex[:10]}"
    app = App(pubsub, topic)
    await app.start()
    resources = work / f"{component}-{label}-{topic}"
    resources.mkdir()
    (resources / "pubsub.yaml").write_text(manifest(component, topic))
    # The publisher's sidecar (no app) and the subscriber's (this process as its app), as two
    # apps would have; in-memory has no broker between processes: one sidecar does both.
    spawn = functools.partial(
        Sidecar.spawn, work, resources=resources, env={"PYTHONPATH": str(tree)}
    )
    sub = spawn(app_id="bench", extra_args=["--app-port", str(app.port)])
    pub = sub if component == "in-memory" else spawn(app_id="bench-pub")
    sides = {"pub": pub} if pub is sub else {"pub": pub, "sub": sub}
    seqs = iter(range(1 << 62))
    n, duration, warmup = settings.concurrency, settings.duration, settings.warmup

    def key(figure: str) -> str:
        return f"{component}:{figure}" + ("" if label == "tandem" else f":{label}")

    try:
        for each in sides.values():
            each.wait_ready()
        url = f"http://127.0.0.1:{pub.http_port}/v1.0/publish/{pubsub}/{topic}"
        headers = {"Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=n)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def publish_http() -> None:
                data = body(next(seqs))
                async with http.post(url, data=data, headers=headers) as r:
                    if r.status != 204:
                        raise RuntimeError(f"publish: {r.status} {await r.text()}")

            deadline = time.monotonic() + 30
            while app.count == 0:  # the subscription is open once a probe event arrives
                await publish_http()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no delivery within 30 s:\n{sub.logs()}")
                await asyncio.sleep(0.1)

            async with Figure(sides, key("publish-http"), settings, results) as fig:
                count, lat = await workers(n, duration, warmup, publish_http)
            results.samples.append(
                sample(
                    component,
                    label,
                    "publish-http",
                    count,
                    duration,
                    lat,
                    **fig.per_msg(count),
                )
            )

            async with grpc.aio.insecure_channel(f"127.0.0.1:{pub.grpc_port}") as channel:
                stub = dapr_pb2_grpc.DaprStub(channel)

                async def publish_grpc() -> None:
                    await stub.PublishEvent(
                        pubsub_pb2.PublishEventRequest(
                            pubsub_name=pubsub,
                            topic=topic,
                            data=body(next(seqs)),
                            data_content_type="application/json",
                        )
                    )

                async with Figure(sides, key("publish-grpc"), settings, results) as fig:
                    count, lat = await workers(n, duration, warmup, publish_grpc)
                results.samples.append(
                    sample(
                        component,
                        label,
                        "publish-grpc",
                        count,
                        duration,
                        lat,
                        **fig.per_msg(count),
                    )
                )
            # what the publish figures sent is delivered before the e2e figures start
            await drain(lambda: app.count, next(seqs), seconds=60)

            for rate in settings.rates:
                first = next(seqs) + 1
                sent = int(rate * duration)
                seqs = iter(range(first, 1 << 62))  # publish_http numbers from here
                async with Figure(sides, key(f"e2e-{rate}"), settings, results) as fig:
                    await paced(rate, duration, publish_http)
                    await drain(functools.partial(app.delivered, first, first + sent), sent)
                lat = app.between(first, first + sent)
                results.samples.append(
                    sample(
                        component,
                        label,
                        f"e2e-{rate}",
                        len(lat),
                        duration,
                        lat,
                        sent=sent,
                        lost=sent - len(lat),
                        **fig.per_msg(sent),
                    )
                )
                seqs = iter(range(first + sent, 1 << 62))

            await workers(n, warmup, 0, publish_http)
            first = next(seqs)
            before = app.count
            async with Figure(sides, key("e2e-max"), settings, results) as fig:
                started = time.perf_counter()
                count, _ = await workers(n, duration, 0, publish_http)
                elapsed = time.perf_counter() - started
                delivered = app.count - before
            lat = app.between(first, first + count + n)
            results.samples.append(
                sample(
                    component,
                    label,
                    "e2e-max",
                    delivered,
                    elapsed,
                    lat,
                    published_per_s=count / elapsed,
                    **fig.per_msg(count),
                )
            )
    finally:
        for each in sides.values():
            each.stop()
        await app.stop()
        await cleanup(component, topic)


# ---- the pub/sub service layer alone -----------------------------------------------------------

_LAYER = """
import asyncio, json, sys, time
from runtime.compstore import ComponentStore, LiveComponent
from runtime.observability.component_telemetry import TelemetryObserver
from runtime.observability.metrics import Metrics
from runtime.resiliency import Resiliency
from runtime.services.pubsub import PubSubService

class Null:  # a component that takes every message at once
    def features(self): return frozenset()
    async def publish(self, topic, data, *, metadata, content_type=""): pass

async def main(n):
    store = ComponentStore()
    store.add(LiveComponent(name="p", type="pubsub.redis", version="v1", block="pubsub",
                            instance=Null()))
    metrics = Metrics("bench")
    service = PubSubService(store, app_id="bench", resiliency=Resiliency(None, events=metrics),
        observer=TelemetryObserver(metrics, component_types={"p": "pubsub.redis"}))
    body = json.dumps({"seq": 1, "t": 1.0, "pad": "x" * 60}).encode()
    for _ in range(n // 10):
        await service.publish("p", "t", body, content_type="application/json")
    started = time.process_time()
    for _ in range(n):
        await service.publish("p", "t", body, content_type="application/json")
    print((time.process_time() - started) / n * 1e6)

asyncio.run(main(int(sys.argv[1])))
"""


def service_layer(trees: dict[str, Path], rounds: int, n: int = 20_000) -> dict[str, list[float]]:
    """CPU µs of one ``PubSubService.publish`` (envelope, scopes, metrics, the component call)
    on a component that does nothing, per checkout, the checkouts alternating each round."""
    import subprocess

    out: dict[str, list[float]] = {label: [] for label in trees}
    for _ in range(rounds):
        for label, tree in trees.items():
            run = subprocess.run(
                [sys.executable, "-c", _LAYER, str(n)],
                env={**os.environ, "PYTHONPATH": str(tree)},
                cwd=tree,
                capture_output=True,
                text=True,
                check=True,
            )
            out[label].append(float(run.stdout.strip()))
    return out


# ---- report ----------------------------------------------------------------------------------


def table(samples: Sequence[dict[str, Any]]) -> str:
    direct: dict[tuple[str, str], float] = {}
    for s in samples:
        if s["path"] == "direct":
            direct.setdefault((s["component"], s["figure"]), s["msgs_per_s"])
    head = (
        f"{'component':<10} {'path':<8} {'figure':<13} {'msg/s':>8} {'vs direct':>9} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'pub µs':>7} {'sub µs':>7}  notes"
    )
    lines = [head]
    for s in samples:
        figure = s["figure"]
        base = direct.get((s["component"], "publish" if "publish" in figure else figure))
        ratio = f"{s['msgs_per_s'] / base:.2f}" if base and s["path"] != "direct" else ""
        notes = []
        if "lost" in s:
            notes.append(f"lost {s['lost']}/{s['sent']}")
        if "published_per_s" in s:
            notes.append(f"published {s['published_per_s']:.0f}/s")
        cpu_pub, cpu_sub = s.get("cpu_pub_us", math.nan), s.get("cpu_sub_us", math.nan)
        lines.append(
            f"{s['component']:<10} {s['path']:<8} {figure:<13} {s['msgs_per_s']:>8.0f} "
            f"{ratio:>9} {s['p50_ms']:>7.2f} {s['p99_ms']:>7.2f} {cpu_pub:>7.0f} {cpu_sub:>7.0f}  "
            f"{', '.join(notes)}"
        )
    return "\n".join(lines)


def verdicts(samples: Sequence[dict[str, Any]], label: str) -> list[str]:
    """Issue 9's targets against the ``label`` rows (the best round of each)."""

    def best(component: str, path: str, figure: str, key: str = "msgs_per_s") -> float | None:
        values = [
            s[key]
            for s in samples
            if (s["component"], s["path"], s["figure"]) == (component, path, figure)
        ]
        return (min if key == "p99_ms" else max)(values) if values else None

    out = []
    e2e = best("redis", label, "e2e-max")
    if e2e is not None:
        ok = e2e >= TARGET_E2E_REDIS
        out.append(f"{'MET' if ok else 'MISSED'}: redis e2e-max {e2e:.0f} msg/s (target ≥ 5,000)")
    for component in sorted({s["component"] for s in samples}):
        p99 = best(component, label, "e2e-1000", "p99_ms")
        if p99 is not None:
            ok = p99 < TARGET_P99_MS
            out.append(
                f"{'MET' if ok else 'MISSED'}: {component} p99 at 1,000 msg/s {p99:.1f} ms "
                "(target < 20)"
            )
        base = best(component, "direct", "publish")
        for figure in ("publish-http", "publish-grpc"):
            mine = best(component, label, figure)
            if base and mine is not None:
                ratio = mine / base
                ok = ratio >= TARGET_PUBLISH_RATIO
                out.append(
                    f"{'MET' if ok else 'MISSED'}: {component} {figure} {ratio:.2f} x direct "
                    "(target ≥ 0.5)"
                )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--components", default=",".join(DURABLE))
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rates", default="100,1000")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=PATH")
    parser.add_argument("--no-direct", action="store_true", help="skip the direct baselines")
    parser.add_argument("--profile", action="append", default=[], metavar="COMPONENT:FIGURE")
    parser.add_argument("--quick", action="store_true", help="1 s runs, 0.25 s warm-up")
    parser.add_argument(
        "--service-layer",
        action="store_true",
        help="only the CPU of PubSubService.publish on a no-op component, per --tree",
    )
    args = parser.parse_args(argv)
    trees = {"tandem": REPO}
    for spec in args.tree:
        label, _, path = spec.partition("=")
        trees[label] = Path(path).resolve()
    settings = Settings(
        components=[c for c in args.components.split(",") if c],
        duration=1.0 if args.quick else args.duration,
        concurrency=args.concurrency,
        rates=[int(r) for r in args.rates.split(",") if r],
        warmup=0.25 if args.quick else args.warmup,
        trees=trees,
        rounds=args.rounds,
        profile=args.profile,
    )
    if args.service_layer:
        load = os.getloadavg()
        for label, values in service_layer(trees, max(3, args.rounds)).items():
            cells = ", ".join(f"{v:.1f}" for v in values)
            print(f"{label:<10} PubSubService.publish: {min(values):.1f} µs CPU (rounds: {cells})")
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        return 0
    unknown = [c for c in settings.components if c not in (*DURABLE, "in-memory")]
    if unknown:
        parser.error(f"unknown components {unknown}; known: {[*DURABLE, 'in-memory']}")
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt warns of >10 pending publishes
    results = Results(
        machine=machine(),
        revision=git_revision(),
        settings={**asdict(settings), "trees": {k: str(v) for k, v in trees.items()}},
        load_before=os.getloadavg(),
    )
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run

    async def run_all(work: Path) -> None:
        for _ in range(settings.rounds):
            for name in settings.components:
                if not args.no_direct and name != "in-memory":
                    await bench_direct(name, settings, work, results)
                    print(f"  done: {name} direct", file=sys.stderr, flush=True)
                for label, tree in settings.trees.items():
                    await bench_tandem(name, label, tree, settings, work, results)
                    print(f"  done: {name} {label}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        runner(run_all(Path(tmp)))
    results.load_after = os.getloadavg()
    print(table(results.samples))
    print()
    for label in settings.trees:
        print(f"targets ({label}):")
        for line in verdicts(results.samples, label):
            print(f"  {line}")
    print(
        "load average before/after: "
        + " / ".join(
            " ".join(f"{x:.2f}" for x in load) for load in (results.load_before, results.load_after)
        )
    )
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"pubsub-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(asdict(results), indent=2))
    print(f"\nresults: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
