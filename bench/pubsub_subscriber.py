"""The subscriber's side of ``pubsub.redis`` alone: CPU per delivered message, per checkout.

    python bench/pubsub_subscriber.py [--tree before=/path/to/checkout] [--rounds 2]
                                      [--count 5000] [--rate 1000]

What one subscriber sidecar does per message, without the rest of the sidecar or the publisher:
the ``pubsub.redis`` component (reads, acks), the runtime's ``Delivery`` (decode, route, trace
context, metrics, retry policy) and the HTTP app channel, in one process (uvloop); the app (a
bare HTTP/1.1 server answering 200) and the publisher (redis-py ``XADD``) are other processes,
so the figure is this process's CPU time (user + system) from subscribing to the last delivery,
per message. Two cases:

- ``backlog``: ``--count`` entries already in the stream (the subscriber at full speed);
- ``paced``: entries published at ``--rate`` msg/s while it runs (3 s at 1,000 msg/s).

Each ``--tree LABEL=PATH`` runs the same measurement with that checkout's code (its
``PYTHONPATH``), alternating with this checkout (``tandem``) round by round. Streams are fresh
and deleted after. Redis at 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

APP = r"""
import asyncio, sys, uvloop
class App(asyncio.Protocol):
    def connection_made(self, transport): self.transport = transport
    def data_received(self, data):
        n = data.count(b"POST ")
        if n: self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * n)
async def main():
    await asyncio.get_running_loop().create_server(App, "127.0.0.1", int(sys.argv[1]))
    await asyncio.sleep(3600)
uvloop.run(main())
"""

PUBLISH = r"""
import json, sys, time, uuid, redis
topic, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
client = redis.Redis()
start = time.perf_counter()
for i in range(n):
    pause = start + i / rate - time.perf_counter()
    if pause > 0: time.sleep(pause)
    tp = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00"
    event = {"id": str(uuid.uuid4()), "source": "pub", "type": "com.dapr.event.sent",
             "specversion": "1.0", "datacontenttype": "application/json", "topic": topic,
             "pubsubname": "p", "traceid": tp, "traceparent": tp,
             "data": {"seq": i, "t": 1.0, "pad": "x" * 60}}
    client.xadd(topic, {"data": json.dumps(event).encode()})
"""

SUBSCRIBE = r"""
import asyncio, socket, subprocess, sys, time, uuid
from pathlib import Path
import redis, uvloop
from components.base import ComponentContext
from components.pubsub.redis import RedisPubSub, RedisPubSubMetadata
from runtime.appchannel._transport import H1Transport
from runtime.appchannel.base import AppSubscription, CallGate, TopicRule
from runtime.appchannel.http import HttpAppChannel
from runtime.observability.component_telemetry import TelemetryObserver
from runtime.observability.metrics import Metrics
from runtime.resiliency import Runner
from runtime.services.pubsub_delivery import DEFAULT_INBOUND_RETRY, Delivery
from runtime.services.pubsub_routing import compile_rules

APP, PUBLISH, mode, n, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

class Ready:
    app_ready = True

async def main():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = subprocess.Popen([sys.executable, "-c", APP, str(port)])
    topic = f"benchsub{uuid.uuid4().hex[:10]}"
    client = redis.Redis()
    try:
        if mode == "backlog":
            subprocess.run([sys.executable, "-c", PUBLISH, topic, str(n), "1e9"], check=True)
        time.sleep(0.3)  # the app listens
        channel = HttpAppChannel(
            base_url=f"http://127.0.0.1:{port}", transport=H1Transport(limit=100),
            gate=CallGate(status=Ready(), health_checked=False, max_concurrency=0))
        spec = AppSubscription(pubsub_name="p", topic=topic, rules=(TopicRule("", "/bench"),))
        observer = TelemetryObserver(Metrics("bench"))
        done = asyncio.Event()
        count = 0

        async def dead_letter(topic, message):
            pass

        delivery = Delivery(
            spec=spec, sink=channel, router=compile_rules(spec.rules),
            runner=Runner("components.p.inbound", retry=DEFAULT_INBOUND_RETRY),
            publish_dead_letter=dead_letter,
            on_outcome=lambda outcome: observer.pubsub_delivery("p", topic, outcome))

        async def handler(message):
            nonlocal count
            ack = await delivery.handle(message)
            count += 1
            if count >= n:
                done.set()
            return ack

        pubsub = RedisPubSub(
            RedisPubSubMetadata.model_validate({"redisHost": "127.0.0.1:6379"}),
            context=ComponentContext(name="p", app_id="bench", namespace="default",
                                     home=Path("/tmp")))
        await pubsub.init()
        started = time.process_time()
        subscription = await pubsub.subscribe(
            topic, handler, consumer_group="g", metadata={}, concurrency=16)
        publisher = None
        if mode == "paced":
            publisher = subprocess.Popen([sys.executable, "-c", PUBLISH, topic, str(n), rate])
        await asyncio.wait_for(done.wait(), 300)
        cpu = time.process_time() - started
        await subscription.aclose()
        await pubsub.close()
        await channel.aclose()
        if publisher is not None:
            publisher.wait()
        print(f"{cpu / n * 1e6:.1f}")
    finally:
        app.kill()
        client.delete(topic)

uvloop.run(main())
"""


def measure(tree: Path, mode: str, count: int, rate: float) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", SUBSCRIBE, APP, PUBLISH, mode, str(count), str(rate)],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=PATH")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0)
    args = parser.parse_args()
    trees = {"tandem": REPO}
    for item in args.tree:
        label, _, path = item.partition("=")
        trees[label] = Path(path).resolve()
    cases = [("backlog", args.count), ("paced", int(args.rate * 3))]
    figures: dict[tuple[str, str], list[float]] = {}
    load = os.getloadavg()
    for _ in range(args.rounds):
        for mode, count in cases:
            for label, tree in trees.items():
                value = measure(tree, mode, count, args.rate)
                figures.setdefault((mode, label), []).append(value)
                print(f"  {mode:8s} {label:10s} {value:7.1f} µs/msg", file=sys.stderr)
    print(f"{'case':28s} {'tree':10s} CPU µs per message (each round)")
    for (mode, label), values in figures.items():
        case = "backlog" if mode == "backlog" else f"paced {args.rate:,.0f} msg/s"
        print(f"{case:28s} {label:10s} " + " / ".join(f"{v:.0f}" for v in values))
    after = os.getloadavg()
    print(f"load average before/after: {load[0]:.2f} / {after[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
