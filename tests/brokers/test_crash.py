"""The crash test of issue 9, per durable broker component: a consumer process is killed with
SIGKILL while it handles a stream of messages and is started again; every message must have
been handled (duplicates allowed, no losses).

At component level: the consumer is ``tests.brokers.crash_consumer`` (a component and a
handler that records each payload before acknowledging), since the runtime's delivery path is
not there yet. ``TANDEM_CRASH_MESSAGES`` sets the count (default 10,000).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.pubsub import PubSub
from tests.brokers.crash_consumer import build
from tests.brokers.private import drop_rabbit, drop_stream, private_mosquitto
from tests.conformance._harness import eventually
from tests.servers import require_server, unique

ROOT = Path(__file__).resolve().parents[2]
COUNT = int(os.environ.get("TANDEM_CRASH_MESSAGES", "10000"))


@dataclass
class Broker:
    type: str
    metadata: dict[str, Any]
    cleanup: list[Callable[[], Any]] = field(default_factory=list)


@pytest.fixture(
    params=[
        pytest.param("jetstream", marks=pytest.mark.nats),
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
        pytest.param("mqtt3", marks=pytest.mark.mosquitto),
    ]
)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    name: str = request.param
    if name == "jetstream":
        require_server("nats")
        stream = unique("crash")
        found = Broker(
            "pubsub.jetstream",
            {"natsURL": "nats://127.0.0.1:4222", "streamName": stream, "ackWait": "2s"},
        )
        found.cleanup.append(lambda: drop_stream(stream))
        yield found
    elif name == "rabbitmq":
        require_server("rabbitmq")
        found = Broker("pubsub.rabbitmq", {"connectionString": "amqp://guest:guest@127.0.0.1:5672"})
        yield found
    else:
        # A private Mosquitto: the shared one drops queued messages past 1000 per session.
        with private_mosquitto(tmp_path / "mosquitto") as server:
            yield Broker("pubsub.mqtt3", {"url": f"tcp://127.0.0.1:{server.port}"})


class Consumer:
    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.brokers.crash_consumer", json.dumps(self._spec)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # "ready" once subscribed
        assert line.strip() == "ready", f"consumer did not start (exit {self._process.poll()})"

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture
async def consumers() -> AsyncIterator[list[Consumer]]:
    started: list[Consumer] = []
    yield started
    for consumer in started:
        consumer.kill()


def _handled(record: Path) -> list[str]:
    if not record.exists():
        return []
    return record.read_text().split("\n")[:-1]  # the last part is empty or incomplete


async def test_a_consumer_killed_mid_stream_loses_nothing(
    broker: Broker, tmp_path: Path, consumers: list[Consumer]
) -> None:
    topic, group = unique("crash"), unique("g")
    if broker.type == "pubsub.rabbitmq":
        broker.cleanup.append(lambda: drop_rabbit(f"{group}-{topic}", topic))
    record = tmp_path / "handled.txt"
    spec = {
        "type": broker.type,
        "metadata": broker.metadata,
        "topic": topic,
        "group": group,
        "record": str(record),
        "home": str(tmp_path / "home"),
        "concurrency": 16,
    }
    consumer = Consumer(spec)
    consumers.append(consumer)
    await asyncio.to_thread(consumer.start)
    publisher: PubSub = build(broker.type, broker.metadata, tmp_path / "publisher")
    await publisher.init()
    try:
        sent = [str(n) for n in range(COUNT)]

        async def publish(part: list[str]) -> None:
            for data in part:
                await publisher.publish(topic, data.encode(), metadata={})

        # 16 publishers, each in order; the consumer is killed while this runs.
        publishing = asyncio.gather(*(publish(sent[i::16]) for i in range(16)))

        async def mid_stream() -> bool:
            return len(_handled(record)) >= COUNT // 4

        await eventually(mid_stream, within=120, interval=0.01)
        consumer.kill()
        killed_at = len(_handled(record))
        await publishing

        restarted = Consumer(spec)
        consumers.append(restarted)
        await asyncio.to_thread(restarted.start)

        async def all_handled() -> bool:
            return set(_handled(record)) >= set(sent)

        await eventually(all_handled, within=180, interval=0.1)
        assert killed_at < COUNT  # the kill really happened mid-stream
    finally:
        await publisher.close()
        for step in broker.cleanup:
            await step()
