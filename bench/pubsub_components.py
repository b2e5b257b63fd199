"""Pub/sub components measured in-process beside the same broker driven directly.

    python bench/pubsub_components.py                      # sqlite + redis, 5 s per figure
    python bench/pubsub_components.py --quick --components sqlite
    python bench/pubsub_components.py --components sqlite --idle-only --idle 60

Per component (``pubsub.sqlite`` on a temp file, ``pubsub.redis`` on ``--redis-host``):

- ``publish``: 1 and 16 concurrent publishers for ``--duration`` s; msgs/s and publish-call
  p50/p99. Baseline: the broker directly (redis-py ``XADD``, one command per message; sqlite3
  ``INSERT`` + commit per message on a WAL file, ``synchronous=NORMAL``, run in a thread as a
  non-blocking app would);
- ``e2e``: publish -> handler, at a fixed 100 and 1,000 msgs/s and flat out with 16 publishers;
  delivered msgs/s and latency p50/p99 (publish call start -> handler entry). The subscriber is a
  second component instance in the same process (sqlite: its wake-ups still go through UDP;
  both share the bench's one event loop and its 2 cores with the broker). Baseline: redis-py
  ``XADD`` + ``XREADGROUP BLOCK`` + ``XACK``; sqlite3 inserts + a reader polling every 1 ms;
- ``idle``: the process's CPU while one subscription waits for ``--idle`` s (sqlite only; the
  publisher and the subscriber instances both open, before any load); and a whole sidecar's
  (``tandem run``, /proc/<pid>/stat) with one programmatic subscription to an aiohttp app in
  the bench process, on ``pubsub.sqlite`` and, for the sidecar's own floor, on
  ``pubsub.in-memory``. ``--idle-only`` measures just those, and the 1 ms-polling sqlite3
  baseline.

Prints a table and writes JSON to ``bench/results/pubsub-components-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aredis
from _common import REPO, Sidecar, cpu_seconds, free_port, git_revision, machine

from components.base import ComponentContext
from components.pubsub import Ack, Message, PubSub

Publish = Callable[[bytes], Awaitable[None]]


@dataclass
class Row:
    component: str
    figure: str
    path: str  # tandem | direct
    setting: str
    msgs_per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def stamp() -> bytes:
    return f"{time.perf_counter():.9f}:{uuid.uuid4().hex}".encode()


# ---- measurements -----------------------------------------------------------------------------


async def publish_throughput(publish: Publish, workers: int, duration: float) -> Row:
    latencies: list[float] = []
    stop = time.perf_counter() + duration

    async def worker() -> None:
        while time.perf_counter() < stop:
            began = time.perf_counter()
            await publish(stamp())
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return Row(
        "",
        "publish",
        "",
        f"c={workers}",
        len(latencies) / duration,
        pct(latencies, 0.5),
        pct(latencies, 0.99),
    )


class Receiver:
    """Records publish -> handler latency from the stamp in each payload (those stamped since
    ``since``), and the time of the last one."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.since = 0.0
        self.last = 0.0
        self.target = 0
        self.done = asyncio.Event()

    def got(self, data: bytes) -> None:
        sent = float(data.split(b":", 1)[0])
        if sent >= self.since:
            self.last = time.perf_counter()
            self.latencies.append(self.last - sent)
            if self.target and len(self.latencies) >= self.target:
                self.done.set()

    async def handler(self, message: Message) -> Ack:
        self.got(message.data)
        return Ack.ACK


async def end_to_end(
    publish: Publish, receiver: Receiver, *, rate: float | None, workers: int, duration: float
) -> Row:
    """Publish for ``duration`` (paced at ``rate`` per worker, or flat out), then wait for every
    message; delivered msgs/s = received / (last delivery - start)."""
    began = time.perf_counter()
    receiver.latencies, receiver.since, receiver.target = [], began, 0
    receiver.done.clear()
    sent = 0

    async def paced() -> None:
        """An offered load: each publish starts on schedule, whether earlier ones returned."""
        nonlocal sent
        interval = 1 / rate if rate else 0
        due = began
        calls = []
        while due < began + duration:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            calls.append(asyncio.ensure_future(publish(stamp())))
            sent += 1
            due += interval
        await asyncio.gather(*calls)

    async def flat_out() -> None:
        nonlocal sent
        while time.perf_counter() < began + duration:
            await publish(stamp())
            sent += 1

    await asyncio.gather(*((paced() if rate else flat_out()) for _ in range(workers)))
    receiver.target = sent
    if len(receiver.latencies) >= sent:
        receiver.done.set()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            await receiver.done.wait()
    got = len(receiver.latencies)
    setting = f"{rate:g}/s" if rate else f"max c={workers}"
    note = f"{sent - got} of {sent} not received within 30 s" if got < sent else ""
    return Row(
        "",
        "e2e",
        "",
        setting,
        got / max(receiver.last - began, 1e-9),
        pct(receiver.latencies, 0.5),
        pct(receiver.latencies, 0.99),
        note,
    )


# ---- components -------------------------------------------------------------------------------


def build(type_: str, metadata: dict[str, Any], home: Path) -> PubSub:
    if type_ == "pubsub.sqlite":
        from components.pubsub.sqlite import SqlitePubSub, SqlitePubSubMetadata

        meta: Any = SqlitePubSubMetadata.model_validate(metadata)
        cls: Any = SqlitePubSub
    else:
        from components.pubsub.redis import RedisPubSub, RedisPubSubMetadata

        meta = RedisPubSubMetadata.model_validate(metadata)
        cls = RedisPubSub
    context = ComponentContext(name="bench", app_id="bench", namespace="default", home=home)
    built: PubSub = cls(meta, context=context)
    return built


async def bench_component(
    type_: str, metadata: dict[str, Any], home: Path, args: argparse.Namespace, rows: list[Row]
) -> None:
    name = type_.split(".")[1]
    publisher, subscriber = build(type_, metadata, home), build(type_, metadata, home)
    receiver = Receiver()
    e2e_topic = f"tandem-bench-e2e-{uuid.uuid4().hex[:8]}"
    await publisher.init()
    await subscriber.init()
    try:
        await subscriber.subscribe(
            e2e_topic, receiver.handler, consumer_group="bench", metadata={}, concurrency=16
        )

        if type_ == "pubsub.sqlite":
            await asyncio.sleep(1)  # measured before any load: nothing to clean up or checkpoint
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(args.idle)
            busy = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            rows.append(
                Row(
                    name,
                    "idle",
                    "tandem",
                    f"{args.idle:g} s, 1 subscription",
                    0,
                    note=f"CPU {busy * 100:.2f}% of one core",
                )
            )
        if args.idle_only:
            return

        for c in (1, 16):
            topic = f"tandem-bench-pub-{uuid.uuid4().hex[:8]}"

            async def publish(data: bytes, topic: str = topic) -> None:
                await publisher.publish(topic, data, metadata={})

            row = await publish_throughput(publish, c, args.duration)
            rows.append(_named(row, name, "tandem"))
            await _cleanup(type_, metadata, topic)

        async def publish_e2e(data: bytes) -> None:
            await publisher.publish(e2e_topic, data, metadata={})

        for rate, workers in ((100.0, 1), (1000.0, 1), (None, 16)):
            row = await end_to_end(
                publish_e2e, receiver, rate=rate, workers=workers, duration=args.duration
            )
            rows.append(_named(row, name, "tandem"))
    finally:
        await publisher.close()
        await subscriber.close()
        await _cleanup(type_, metadata, e2e_topic)  # once no subscription recreates it


def _named(row: Row, component: str, path: str) -> Row:
    row.component, row.path = component, path
    p50 = "" if row.p50_ms is None else f", p50 {row.p50_ms:.2f} ms, p99 {row.p99_ms:.2f} ms"
    print(
        f"  {component} {row.figure} {path} {row.setting}: {row.msgs_per_s:.0f}/s{p50}", flush=True
    )
    return row


async def _cleanup(type_: str, metadata: dict[str, Any], topic: str) -> None:
    if type_ == "pubsub.redis":
        host, _, port = metadata["redisHost"].partition(":")
        client = aredis.Redis(host=host, port=int(port or 6379))
        await client.delete(topic)
        await client.aclose()


# ---- baselines --------------------------------------------------------------------------------


async def redis_direct(host: str, args: argparse.Namespace, rows: list[Row]) -> None:
    address, _, port = host.partition(":")
    client = aredis.Redis(host=address, port=int(port or 6379), max_connections=64)
    reader = aredis.Redis(host=address, port=int(port or 6379))
    try:
        for c in (1, 16):
            key = f"tandem-bench-direct-{uuid.uuid4().hex[:8]}"

            async def xadd(data: bytes, key: str = key) -> None:
                await client.xadd(key, {"data": data})

            rows.append(_named(await publish_throughput(xadd, c, args.duration), "redis", "direct"))
            await client.delete(key)
        key = f"tandem-bench-direct-{uuid.uuid4().hex[:8]}"
        await client.xgroup_create(key, "bench", "$", mkstream=True)
        receiver = Receiver()
        stop = asyncio.Event()

        async def consume() -> None:
            # stopped by a flag: cancelling redis-py during a blocking read can hang
            while not stop.is_set():
                reply: Any = await reader.xreadgroup("bench", "c", {key: ">"}, count=100, block=100)
                ids = []
                for _, entries in reply or ():
                    for entry_id, fields in entries:
                        receiver.got(fields[b"data"])
                        ids.append(entry_id)
                if ids:
                    await client.xack(key, "bench", *ids)

        task = asyncio.create_task(consume())

        async def xadd_e2e(data: bytes) -> None:
            await client.xadd(key, {"data": data})

        for rate, workers in ((100.0, 1), (1000.0, 1), (None, 16)):
            row = await end_to_end(
                xadd_e2e, receiver, rate=rate, workers=workers, duration=args.duration
            )
            rows.append(_named(row, "redis", "direct"))
        stop.set()
        await task
        await client.delete(key)
    finally:
        await client.aclose()
        await reader.aclose()


async def sqlite_direct(folder: Path, args: argparse.Namespace, rows: list[Row]) -> None:
    path = folder / "direct.db"
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE m (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT, data BLOB)")
    lock = asyncio.Lock()  # one connection, one statement at a time

    def insert(data: bytes) -> None:
        conn.execute("INSERT INTO m (topic, data) VALUES ('t', ?)", (data,))

    async def publish(data: bytes) -> None:
        async with lock:
            await asyncio.to_thread(insert, data)

    for c in () if args.idle_only else (1, 16):
        rows.append(_named(await publish_throughput(publish, c, args.duration), "sqlite", "direct"))
    receiver = Receiver()
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    last = int(reader.execute("SELECT COALESCE(MAX(seq), 0) FROM m").fetchone()[0])

    async def poll() -> None:
        nonlocal last
        while True:
            found = reader.execute(
                "SELECT seq, data FROM m WHERE seq > ? ORDER BY seq", (last,)
            ).fetchall()
            for seq, data in found:
                receiver.got(data)
                last = seq
            await asyncio.sleep(0.001)

    task = asyncio.create_task(poll())
    for rate, workers in () if args.idle_only else ((100.0, 1), (1000.0, 1), (None, 16)):
        row = await end_to_end(
            publish, receiver, rate=rate, workers=workers, duration=args.duration
        )
        rows.append(_named(row, "sqlite", "direct"))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(args.idle)
    busy = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    rows.append(
        Row(
            "sqlite",
            "idle",
            "direct",
            f"{args.idle:g} s, 1 ms poll",
            0,
            note=f"CPU {busy * 100:.2f}% of one core",
        )
    )
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    conn.close()
    reader.close()


async def sidecar_idle(folder: Path, args: argparse.Namespace, rows: list[Row]) -> None:
    """A sidecar's CPU while idle with one subscription, per pub/sub type."""
    from aiohttp import web

    topic = "tandem-bench-idle"

    async def subscribe(_: web.Request) -> web.Response:
        return web.json_response([{"pubsubname": "pubsub", "topic": topic, "route": "/idle"}])

    async def deliver(_: web.Request) -> web.Response:
        return web.json_response({"status": "SUCCESS"})

    app = web.Application()
    app.router.add_get("/dapr/subscribe", subscribe)
    app.router.add_post("/idle", deliver)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        for type_ in ("pubsub.sqlite", "pubsub.in-memory"):
            work = folder / f"idle-{type_}"
            resources = work / "resources"
            resources.mkdir(parents=True)
            meta = (
                f"\n  - name: connectionString\n    value: {work / 'pubsub.db'}"
                if type_ == "pubsub.sqlite"
                else ""
            )
            (resources / "pubsub.yaml").write_text(
                "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\n"
                f"spec:\n  type: {type_}\n  version: v1\n  metadata:{meta or ' []'}\n"
            )
            side = Sidecar.spawn(
                work,
                app_id="idlebench",
                resources=resources,
                extra_args=["--app-port", str(port)],
                env={"PYTHONPATH": str(REPO)},
            )
            try:
                await asyncio.to_thread(side.wait_ready)
                deadline = time.monotonic() + 30
                while "subscribed to" not in side.logs():
                    if time.monotonic() > deadline or side.proc.poll() is not None:
                        raise RuntimeError(f"no subscription:\n{side.logs()}")
                    await asyncio.sleep(0.05)
                await asyncio.sleep(2)  # past the start-up's last work
                cpu0, wall0 = cpu_seconds(side.pid), time.perf_counter()
                await asyncio.sleep(args.idle)
                busy = (cpu_seconds(side.pid) - cpu0) / (time.perf_counter() - wall0)
                rows.append(
                    Row(
                        type_.split(".")[1],
                        "idle",
                        "sidecar",
                        f"{args.idle:g} s, 1 subscription",
                        0,
                        note=f"sidecar CPU {busy * 100:.2f}% of one core",
                    )
                )
                print(f"  {type_} idle sidecar: {busy * 100:.2f}% of one core", flush=True)
            finally:
                side.stop()
    finally:
        await runner.cleanup()


# ---- main -------------------------------------------------------------------------------------


def show(rows: list[Row]) -> None:
    print(
        f"{'component':9} {'figure':7} {'path':7} {'setting':20} {'msgs/s':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8}  note"
    )
    for r in rows:
        p50 = f"{r.p50_ms:8.2f}" if r.p50_ms is not None else " " * 8
        p99 = f"{r.p99_ms:8.2f}" if r.p99_ms is not None else " " * 8
        print(
            f"{r.component:9} {r.figure:7} {r.path:7} {r.setting:20} {r.msgs_per_s:9.0f} "
            f"{p50} {p99}  {r.note}"
        )


async def main(args: argparse.Namespace) -> None:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "sqlite" in args.components:
            meta = {"connectionString": str(folder / "pubsub.db")}
            await bench_component("pubsub.sqlite", meta, folder, args, rows)
            await sqlite_direct(folder, args, rows)
            await sidecar_idle(folder, args, rows)
        if "redis" in args.components:
            meta = {"redisHost": args.redis_host}
            await bench_component("pubsub.redis", meta, folder, args, rows)
            await redis_direct(args.redis_host, args, rows)
    show(rows)
    out = REPO / "bench" / "results" / f"pubsub-components-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "git": git_revision(),
                "settings": vars(args),
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out.relative_to(REPO)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--components", default="sqlite,redis")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--redis-host", default="127.0.0.1:6379")
    parser.add_argument("--quick", action="store_true", help="1 s figures, 3 s idle")
    parser.add_argument(
        "--idle-only", action="store_true", help="only the idle CPU figures (sqlite, direct)"
    )
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.duration = 1.0
        if "--idle" not in sys.argv:
            parsed.idle = 3.0
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(parsed))
    else:
        uvloop.run(main(parsed))
