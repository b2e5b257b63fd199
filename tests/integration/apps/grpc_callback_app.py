"""A gRPC app built with the official SDK's ``dapr.ext.grpc.App``, on port argv[1].

It runs in its own process because the SDK's generated protos cannot share one with Tandem's.
What it received is appended as JSON lines to argv[2]; its health check passes while the file
argv[3] exists. Methods:

- ``echo``: answers JSON describing the request (data, Any type URL, content type, metadata)
  with content type ``application/json`` and a response header ``x-echo: 1``;
- ``hold``: waits for a ticket from ``release`` (concurrency observed in ``stats``);
- ``release``: hands out one ticket; ``stats``: ``{"in_flight", "peak", "done"}``.

Topic ``orders`` on pubsub ``pubsub`` (the default route, path "", and a rule with path
``priority``) answers the status named in the event data (``success``/``retry``/``drop``; ``none``
returns nothing), or raises on ``boom``.
Exits when its parent goes away, or after 120 s.
"""

# The SDK is partly untyped.
# mypy: disable-error-code="no-untyped-call,untyped-decorator"

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dapr.clients.grpc._response import TopicEventResponse
from dapr.ext.grpc import App, InvokeMethodRequest, InvokeMethodResponse, Rule, SubscriptionMessage


def main() -> int:
    port = int(sys.argv[1])
    log_path = Path(sys.argv[2])
    healthy = Path(sys.argv[3])
    parent = os.getppid()
    lock = threading.Lock()
    tickets = threading.Semaphore(0)
    stats = {"in_flight": 0, "peak": 0, "done": 0}
    app = App()

    def record(entry: dict[str, Any]) -> None:
        with lock, log_path.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    @app.method("echo")
    def echo(request: InvokeMethodRequest) -> InvokeMethodResponse:
        answer = {
            "data": request.proto.value.decode(),
            "type_url": request.proto.type_url,
            "content_type": request.content_type,
            "metadata": {k: v[0] for k, v in request.metadata.items()},
        }
        response = InvokeMethodResponse(json.dumps(answer), "application/json")
        response.headers = (("x-echo", "1"),)
        return response

    @app.method("hold")
    def hold(request: InvokeMethodRequest) -> str:
        with lock:
            stats["in_flight"] += 1
            stats["peak"] = max(stats["peak"], stats["in_flight"])
        tickets.acquire(timeout=60)
        with lock:
            stats["in_flight"] -= 1
            stats["done"] += 1
        return "held"

    @app.method("release")
    def release(request: InvokeMethodRequest) -> str:
        tickets.release()
        return "released"

    @app.method("stats")
    def get_stats(request: InvokeMethodRequest) -> str:
        with lock:
            return json.dumps(stats)

    def handle(event: SubscriptionMessage, route: str) -> TopicEventResponse | None:
        verdict = event.raw_data().decode()
        record(
            {
                "route": route,
                "id": event.id(),
                "topic": event.topic(),
                "pubsub": event.pubsub_name(),
                "type": event.type(),
                "data": verdict,
                "content_type": event.data_content_type(),
                "extensions": event.extensions(),
                "metadata": event.metadata(),
            }
        )
        if verdict == "boom":
            raise RuntimeError("boom")
        return TopicEventResponse(verdict) if verdict != "none" else None

    @app.subscribe("pubsub", "orders", metadata={"rawPayload": "false"}, dead_letter_topic="dead")
    def orders(event: SubscriptionMessage) -> TopicEventResponse | None:
        return handle(event, "default")

    @app.subscribe("pubsub", "orders", rule=Rule("event.type == 'priority'", 1))
    def priority(event: SubscriptionMessage) -> TopicEventResponse | None:
        return handle(event, "priority")

    def health() -> None:
        if not healthy.exists():
            raise RuntimeError("unhealthy")

    app.register_health_check(health)
    threading.Thread(target=app.run, args=(port, "127.0.0.1"), daemon=True).start()
    deadline = time.monotonic() + 120
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.1)
    app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
