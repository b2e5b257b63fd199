"""Issue 9's crash test end to end: kill -9 a sidecar while it delivers 10,000 messages to its
app, start it again; every message reaches the app (duplicates allowed, no losses).

The app is an HTTP server in this test process (it outlives the sidecars); each delivery takes
a few milliseconds, as a real handler would. Messages are published through the sidecar (bulk
publish, 500 per call) after it subscribed. Once the app has handled ``KILL_AFTER`` messages it
holds every further delivery until the sidecar is killed (then answers RETRY), so the kill lands
mid-stream however fast the broker delivers: a fast broker once drained all 10,000 before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.private import PrivateServer, drop_rabbit, drop_stream, private_mosquitto
from tests.integration.harness import Sidecar, component_yaml, free_port, wait_until
from tests.servers import REDIS_URL, require_server, unique

pytestmark = pytest.mark.integration

PUBSUB = "crashps"
COUNT = 10_000
CHUNK = 500
KILL_AFTER = 1_000
HANDLER_SECONDS = 0.005


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5; the sidecar opens one connection per delivery
    # (this app answers HTTP/1.0), so a burst of concurrent deliveries overflowed it and each
    # dropped SYN cost a 1 s retransmission: a delivery loop that started its calls in lock-step
    # batches then crawled at ~16 messages/s, past the test's timeout.
    request_queue_size = 128


class App:
    """Answers ``/dapr/subscribe`` with one subscription and records every delivered ``data``."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.handled: set[str] = set()
        self.deliveries = 0
        # past KILL_AFTER handled messages, deliveries wait here until the kill
        self.released = threading.Event()
        self._lock = threading.Lock()
        self.port = free_port()
        self._server = _Server(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _answer(self, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                route = {"pubsubname": PUBSUB, "topic": app.topic, "route": "/crash"}
                self._answer([route])

            def do_POST(self) -> None:
                event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(HANDLER_SECONDS)  # the app's work
                with app._lock:
                    held = len(app.handled) >= KILL_AFTER and not app.released.is_set()
                    if not held:
                        app.handled.add(str(event["data"]))
                        app.deliveries += 1
                if held:
                    app.released.wait(120)
                with contextlib.suppress(OSError):  # the sidecar that sent it was killed
                    self._answer({"status": "RETRY" if held else "SUCCESS"})

        return Handler

    def count(self) -> int:
        with self._lock:
            return len(self.handled)

    def __enter__(self) -> App:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


SERVERS = {
    "pubsub.redis": "redis",
    "pubsub.jetstream": "nats",
    "pubsub.rabbitmq": "rabbitmq",
    "pubsub.mqtt3": "mosquitto",
}


@pytest.fixture(
    params=[
        "pubsub.sqlite",
        "pubsub.redis",
        pytest.param("pubsub.jetstream", marks=pytest.mark.nats),
        pytest.param("pubsub.rabbitmq", marks=pytest.mark.rabbitmq),
        pytest.param("pubsub.mqtt3", marks=pytest.mark.mosquitto),
    ]
)
def component_type(request: pytest.FixtureRequest) -> str:
    type_: str = request.param
    if type_ in SERVERS:
        require_server(SERVERS[type_])
    return type_


@pytest.fixture
def component(component_type: str, topic: str, tmp_path: Path) -> Iterator[str]:
    """The component manifest; a private broker for MQTT (stopped at the end)."""
    private: PrivateServer | None = None
    if component_type == "pubsub.sqlite":
        meta = {"connectionString": str(tmp_path / "crash.db"), "processingTimeout": "2s"}
    elif component_type == "pubsub.redis":
        meta = {"redisHost": REDIS_URL, "processingTimeout": "2s", "redeliverInterval": "500ms"}
    elif component_type == "pubsub.jetstream":
        meta = {"natsURL": "nats://127.0.0.1:4222", "streamName": topic, "ackWait": "2s"}
    elif component_type == "pubsub.rabbitmq":
        meta = {"connectionString": "amqp://guest:guest@127.0.0.1:5672"}
    else:
        # private: the shared Mosquitto drops queued messages past 1000 per offline session
        private = private_mosquitto(tmp_path / "mosquitto")
        private.start()
        meta = {"url": f"tcp://127.0.0.1:{private.port}"}
    yield component_yaml(PUBSUB, component_type, meta)
    if private is not None:
        private.stop()


@pytest.fixture
def topic(component_type: str) -> Iterator[str]:
    name = unique("tandem-crash-e2e-")
    yield name
    if component_type == "pubsub.redis":
        import redis

        host, _, port = REDIS_URL.partition(":")
        with redis.Redis(host=host, port=int(port or 6379)) as client:
            client.delete(name)
    elif component_type == "pubsub.jetstream":
        asyncio.run(drop_stream(name))
    elif component_type == "pubsub.rabbitmq":
        asyncio.run(drop_rabbit(f"crashapp-{name}", name))


def _start(tmp: Path, component: str, app: App) -> Sidecar:
    sidecar = Sidecar.spawn(
        tmp, app_id="crashapp", components=[component], args=["--app-port", str(app.port)]
    )
    sidecar.wait_outbound()
    assert sidecar.wait_for_log("subscribed to"), sidecar.logs()
    return sidecar


def test_a_sidecar_killed_mid_delivery_loses_no_message(
    component: str, topic: str, tmp_path: Path
) -> None:
    sent = [f"m-{n}" for n in range(COUNT)]
    with App(topic) as app:
        first = _start(tmp_path, component, app)
        try:
            for start in range(0, COUNT, CHUNK):
                entries = [
                    {"entryId": str(n), "event": sent[n], "contentType": "text/plain"}
                    for n in range(start, min(start + CHUNK, COUNT))
                ]
                resp = first.request(
                    "POST",
                    f"/v1.0-alpha1/publish/bulk/{PUBSUB}/{topic}",
                    json.dumps(entries),
                    {"Content-Type": "application/json"},
                    timeout=60,
                )
                assert resp.status == 204, resp.text
            assert wait_until(lambda: app.count() >= KILL_AFTER, 60), first.logs()
        finally:
            first.proc.kill()  # SIGKILL: no drain, no acknowledgement of what is in flight
            first.proc.wait()
            app.released.set()
        assert app.count() < COUNT, "every message was delivered before the kill"
        second = _start(tmp_path, component, app)
        try:
            done = wait_until(lambda: app.count() == COUNT, 120, interval=0.1)
            assert done, f"{COUNT - app.count()} messages never arrived:\n{second.logs()}"
        finally:
            second.stop()
        assert app.handled == set(sent)
        assert app.deliveries >= COUNT  # duplicates allowed
