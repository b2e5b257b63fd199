"""Pub/sub broker components against their own client libraries, on the same broker.

For each of ``pubsub.jetstream``, ``pubsub.rabbitmq`` and ``pubsub.mqtt3`` (loaded in this
process, as the sidecar would) and a direct baseline (nats-py, aio-pika, aiomqtt used as an app
would, with the same durability: JetStream publish acks, RabbitMQ publisher confirms and
persistent messages, MQTT QoS 1), two measurements:

- ``publish``: C concurrent publishers, each awaiting its publish, for D seconds: messages/s and
  p50/p99 latency of one publish;
- ``e2e``: one subscriber (concurrency 16, acking each message) while C publishers run at full
  speed: delivered messages/s, and the p50/p99 of publish-to-handler latency (the payload
  carries its send time); then at a paced ``--rate`` (default 1000 msg/s) for the latency
  target of issue 9 (p99 < 20 ms at 1,000 msg/s).

Usage: ``python bench/pubsub_brokers.py [--duration 3] [--brokers jetstream,rabbitmq,mqtt3]
[--concurrency 1,16] [--rate 1000]``. Servers: NATS 127.0.0.1:4222, RabbitMQ :5672 (guest),
Mosquitto :1883. Every run uses fresh stream/queue/topic names and deletes the stream/queues.
Results also go to ``bench/results/pubsub-brokers-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import struct
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # measure this checkout's components

from components.base import ComponentContext  # noqa: E402
from components.pubsub import Ack, Message, PubSub  # noqa: E402
from runtime.catalog import CATALOG  # noqa: E402

NATS = "nats://127.0.0.1:4222"
AMQP = "amqp://guest:guest@127.0.0.1:5672"
MQTT = ("127.0.0.1", 1883)
PAD = b"x" * 92  # payloads are 100 bytes: an 8-byte send time + padding

Publish = Callable[[bytes], Awaitable[None]]
OnMessage = Callable[[bytes], None]


@dataclass
class Row:
    broker: str
    path: str  # component | direct
    kind: str  # publish | e2e | e2e-paced
    concurrency: int
    msgs_per_s: float
    p50_ms: float
    p99_ms: float
    count: int


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def stamp() -> bytes:
    return struct.pack("!d", time.perf_counter()) + PAD


def age(data: bytes) -> float:
    sent: float = struct.unpack("!d", data[:8])[0]
    return time.perf_counter() - sent


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


# ---- the two ways of talking to each broker ----------------------------------------------


class Side:
    """One way (component or direct) to publish to and consume from one topic."""

    async def open(self, topic: str, group: str) -> None: ...
    async def publish(self, data: bytes) -> None: ...
    async def subscribe(self, on_message: OnMessage) -> None: ...
    async def close(self) -> None: ...


class ComponentSide(Side):
    def __init__(self, type_: str, metadata: dict[str, Any], home: Path) -> None:
        (entry,) = [e for e in CATALOG if e.type == type_]
        module, _, name = entry.target.partition(":")
        cls = getattr(__import__(module, fromlist=[name]), name)
        context = ComponentContext(name="bench", app_id="bench", namespace="default", home=home)
        self.pubsub: PubSub = cls(cls.Metadata.model_validate(metadata), context=context)

    async def open(self, topic: str, group: str) -> None:
        self.topic, self.group = topic, group
        await self.pubsub.init()

    async def publish(self, data: bytes) -> None:
        await self.pubsub.publish(self.topic, data, metadata={})

    async def subscribe(self, on_message: OnMessage) -> None:
        async def handler(message: Message) -> Ack:
            on_message(message.data)
            return Ack.ACK

        await self.pubsub.subscribe(
            self.topic, handler, consumer_group=self.group, metadata={}, concurrency=16
        )

    async def close(self) -> None:
        await self.pubsub.close()


class NatsDirect(Side):
    async def open(self, topic: str, group: str) -> None:
        import nats

        self.topic, self.group = topic, group
        self.nc = await nats.connect(NATS)
        self.js = self.nc.jetstream()
        self.stream = f"BENCH_{topic}"
        await self.js.add_stream(name=self.stream, subjects=[topic])
        self.task: asyncio.Task[None] | None = None

    async def publish(self, data: bytes) -> None:
        await self.js.publish(self.topic, data, stream=self.stream)

    async def subscribe(self, on_message: OnMessage) -> None:
        import nats.errors

        pull = await self.js.pull_subscribe(self.topic, durable=self.group, stream=self.stream)

        async def loop() -> None:
            while True:
                try:
                    msgs = await pull.fetch(16, timeout=1)
                except nats.errors.TimeoutError:
                    continue
                for msg in msgs:
                    on_message(msg.data)
                    await msg.ack()

        self.task = asyncio.create_task(loop())

    async def close(self) -> None:
        await stop(self.task)
        with contextlib.suppress(Exception):
            await self.js.delete_stream(self.stream)
        await self.nc.close()


class RabbitDirect(Side):
    async def open(self, topic: str, group: str) -> None:
        import aio_pika

        self.topic, self.queue_name = topic, f"{group}-{topic}"
        self.conn = await aio_pika.connect(AMQP)
        self.channel = await self.conn.channel(publisher_confirms=True)
        self.exchange = await self.channel.declare_exchange(
            topic, aio_pika.ExchangeType.FANOUT, durable=True
        )

    async def publish(self, data: bytes) -> None:
        import aio_pika

        await self.exchange.publish(
            aio_pika.Message(data, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=""
        )

    async def subscribe(self, on_message: OnMessage) -> None:
        channel = await self.conn.channel()
        await channel.set_qos(prefetch_count=16)
        queue = await channel.declare_queue(self.queue_name, durable=True)
        await queue.bind(self.exchange)

        async def handle(incoming: Any) -> None:
            on_message(incoming.body)
            await incoming.ack()

        await queue.consume(handle)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.channel.queue_delete(self.queue_name)
        with contextlib.suppress(Exception):
            await self.channel.exchange_delete(self.topic)
        await self.conn.close()


class MqttDirect(Side):
    async def open(self, topic: str, group: str) -> None:
        import aiomqtt

        self.topic, self.group = topic, group
        self.pub = aiomqtt.Client(*MQTT, identifier=f"bench-pub-{uuid.uuid4().hex[:8]}")
        await self.pub.__aenter__()
        self.sub: Any = None
        self.task: asyncio.Task[None] | None = None

    async def publish(self, data: bytes) -> None:
        await self.pub.publish(self.topic, data, qos=1)

    async def subscribe(self, on_message: OnMessage) -> None:
        import aiomqtt

        self.sub = aiomqtt.Client(*MQTT, identifier=f"bench-sub-{uuid.uuid4().hex[:8]}")
        await self.sub.__aenter__()
        await self.sub.subscribe(f"$share/{self.group}/{self.topic}", qos=1)

        async def loop() -> None:
            async for message in self.sub.messages:
                on_message(bytes(message.payload))

        self.task = asyncio.create_task(loop())

    async def close(self) -> None:
        await stop(self.task)
        for client in (self.sub, self.pub):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.__aexit__(None, None, None)


def sides(broker: str, home: Path) -> dict[str, Callable[[], Side]]:
    unique = uuid.uuid4().hex[:10]
    if broker == "jetstream":
        meta = {"natsURL": NATS, "streamName": f"BENCHC_{unique}", "streamStorage": "file"}
        return {
            "component": lambda: ComponentSide("pubsub.jetstream", meta, home),
            "direct": NatsDirect,
        }
    if broker == "rabbitmq":
        return {
            "component": lambda: ComponentSide("pubsub.rabbitmq", {"connectionString": AMQP}, home),
            "direct": RabbitDirect,
        }
    url = f"tcp://{MQTT[0]}:{MQTT[1]}"
    return {
        "component": lambda: ComponentSide(
            "pubsub.mqtt3", {"url": url, "cleanSession": "true"}, home
        ),
        "direct": MqttDirect,
    }


# ---- measurements --------------------------------------------------------------------------


async def publish_load(side: Side, concurrency: int, duration: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    stop = time.perf_counter() + duration

    async def worker() -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            await side.publish(stamp())
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), latencies


async def paced(side: Side, rate: float, duration: float) -> int:
    """Publish at ``rate`` per second for ``duration``: one task per message, so a slow
    publish acknowledgement does not lower the rate."""
    sent: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    while time.perf_counter() - start < duration:
        delay = start + len(sent) / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(asyncio.create_task(side.publish(stamp())))
    await asyncio.gather(*sent)
    return len(sent)


async def measure(broker: str, path: str, make: Callable[[], Side], args: Any) -> list[Row]:
    rows: list[Row] = []
    for concurrency in args.concurrency:
        side = make()
        await side.open(f"bench{uuid.uuid4().hex[:10]}", f"g{uuid.uuid4().hex[:8]}")
        try:
            await publish_load(side, concurrency, args.warmup)
            count, lat = await publish_load(side, concurrency, args.duration)
            rows.append(
                Row(
                    broker,
                    path,
                    "publish",
                    concurrency,
                    count / args.duration,
                    pct(lat, 0.5),
                    pct(lat, 0.99),
                    count,
                )
            )
        finally:
            await side.close()

        side = make()
        await side.open(f"bench{uuid.uuid4().hex[:10]}", f"g{uuid.uuid4().hex[:8]}")
        ages: list[float] = []
        window = {"on": False}

        def on_message(
            data: bytes, ages: list[float] = ages, window: dict[str, bool] = window
        ) -> None:
            if window["on"]:
                ages.append(age(data))

        try:
            await side.subscribe(on_message)
            await publish_load(side, concurrency, args.warmup)
            window["on"] = True
            started = time.perf_counter()
            await publish_load(side, concurrency, args.duration)
            elapsed = time.perf_counter() - started
            window["on"] = False
            rows.append(
                Row(
                    broker,
                    path,
                    "e2e",
                    concurrency,
                    len(ages) / elapsed,
                    pct(ages, 0.5),
                    pct(ages, 0.99),
                    len(ages),
                )
            )
        finally:
            await side.close()

    side = make()
    await side.open(f"bench{uuid.uuid4().hex[:10]}", f"g{uuid.uuid4().hex[:8]}")
    paced_ages: list[float] = []
    try:
        await side.subscribe(lambda data: paced_ages.append(age(data)))
        sent = await paced(side, args.rate, args.duration)
        for _ in range(200):  # up to 10 s for the last deliveries
            if len(paced_ages) >= sent:
                break
            await asyncio.sleep(0.05)
        rows.append(
            Row(
                broker,
                path,
                f"e2e-paced@{args.rate:g}/s",
                1,
                len(paced_ages) / args.duration,
                pct(paced_ages, 0.5),
                pct(paced_ages, 0.99),
                len(paced_ages),
            )
        )
    finally:
        await side.close()
    return rows


async def run(args: Any) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as home:
        for broker in args.brokers:
            for path, make in sides(broker, Path(home)).items():
                rows += await measure(broker, path, make, args)
                print(f"  done: {broker} {path}", file=sys.stderr, flush=True)
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        f"{'broker':10} {'path':9} {'kind':18} {'c':>3} {'msg/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'vs direct':>9}"
    ]
    direct = {(r.broker, r.kind, r.concurrency): r.msgs_per_s for r in rows if r.path == "direct"}
    for r in rows:
        base = direct.get((r.broker, r.kind, r.concurrency))
        ratio = f"{r.msgs_per_s / base:.2f}" if base and r.path == "component" else ""
        lines.append(
            f"{r.broker:10} {r.path:9} {r.kind:18} {r.concurrency:>3} "
            f"{r.msgs_per_s:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {ratio:>9}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--brokers", default="jetstream,rabbitmq,mqtt3")
    parser.add_argument("--concurrency", default="1,16")
    args = parser.parse_args()
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt warns of >10 pending publishes
    args.brokers = [b for b in args.brokers.split(",") if b]
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    rows = runner(run(args))
    print(table(rows))
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp_ = time.strftime("%Y%m%d-%H%M%S")
    (out / f"pubsub-brokers-{stamp_}.json").write_text(
        json.dumps({"args": vars(args), "rows": [asdict(r) for r in rows]}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
