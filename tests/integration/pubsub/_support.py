"""Shared pieces of the pub/sub integration tests: one sidecar with an HTTP subscriber app.

The app (``apps/http_subscriber.py``) answers ``GET /dapr/subscribe`` with ``SUBSCRIPTIONS``
and records every delivery; Subscription resources add declarative ones. Each test tags its
events with a unique marker and waits for the deliveries carrying it.

Nothing here imports Tandem's protos or the ``dapr`` SDK (they cannot share a process).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.integration.harness import Response, Sidecar, component_yaml, free_port
from tests.integration.pubsub.apps import pubsub_app

__all__ = [
    "APP_ID",
    "OUTBOX_STORE",
    "PUBSUB",
    "SCOPED",
    "PubSubEnv",
    "start_env",
    "tagged",
]

APP_ID = "subscriber"
PUBSUB = "pubsub"
OUTBOX_STORE = "outboxstore"  # a state store whose transactions publish to "outbox-out"
SCOPED = "scoped"  # topic scoping: this app may publish and subscribe to "granted" only

SUBSCRIPTIONS: list[dict[str, Any]] = [
    {"pubsubname": PUBSUB, "topic": "events", "route": "/events"},
    {"pubsubname": PUBSUB, "topic": "raw", "route": "/raw", "metadata": {"rawPayload": "true"}},
    {
        "pubsubname": PUBSUB,
        "topic": "routed",
        "routes": {
            "rules": [
                {"match": 'event.data.kind == "widget"', "path": "/widgets"},
                {"match": 'event.type == "custom.type"', "path": "/custom"},
            ],
            "default": "/routed",
        },
        "deadLetterTopic": "dead",
    },
    {
        "pubsubname": PUBSUB,
        "topic": "unrouted",
        "routes": {"rules": [{"match": 'event.data.kind == "never"', "path": "/never"}]},
        "deadLetterTopic": "dead",
    },
    {"pubsubname": PUBSUB, "topic": "status", "route": "/status", "deadLetterTopic": "dead"},
    {"pubsubname": PUBSUB, "topic": "nodlq", "route": "/nodlq"},
    {"pubsubname": PUBSUB, "topic": "dead", "route": "/dead"},
    {"pubsubname": PUBSUB, "topic": "outbox-out", "route": "/outbox"},
    {"pubsubname": SCOPED, "topic": "granted", "route": "/granted"},
    {"pubsubname": SCOPED, "topic": "denied", "route": "/denied"},
    {
        "pubsubname": PUBSUB,
        "topic": "bulk-in",
        "route": "/bulk",
        "bulkSubscribe": {"enabled": True, "maxMessagesCount": 5, "maxAwaitDurationMs": 100},
    },
]

DECLARATIVE = """\
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: decl
spec:
  pubsubname: pubsub
  topic: decl
  routes:
    default: /decl
scopes: [subscriber]
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata:
  name: decl-v1
spec:
  pubsubname: pubsub
  topic: decl-v1
  route: /decl-v1
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: decl-other
spec:
  pubsubname: pubsub
  topic: decl-other
  routes:
    default: /decl-other
scopes: [another-app]
"""

# Fast inbound retries, so the status-table cases settle quickly.
RESILIENCY = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: fast-inbound
spec:
  policies:
    retries:
      fast:
        policy: constant
        duration: 50ms
        maxRetries: 3
  targets:
    components:
      pubsub:
        inbound:
          retry: fast
"""


@dataclass
class PubSubEnv:
    sidecar: Sidecar
    events_path: Path

    def marker(self) -> str:
        return uuid.uuid4().hex[:12]

    def publish(
        self,
        topic: str,
        body: bytes | str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        pubsub: str = PUBSUB,
    ) -> Response:
        query = "&".join(f"metadata.{k}={quote(v)}" for k, v in (metadata or {}).items())
        path = f"/v1.0/publish/{pubsub}/{topic}" + (f"?{query}" if query else "")
        headers = {"Content-Type": content_type} if content_type else {}
        return self.sidecar.request("POST", path, body, headers)

    def deliveries(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        return [json.loads(line) for line in self.events_path.read_text().splitlines() if line]

    def wait(
        self, match: Callable[[dict[str, Any]], bool], count: int = 1, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """The deliveries ``match`` selects, once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.deliveries() if match(d)]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{len(found)}/{count} deliveries after {timeout}s:\n"
                    + self.sidecar.logs()[-3000:]
                )
            time.sleep(0.05)


def tagged(marker: str) -> Callable[[dict[str, Any]], bool]:
    """Deliveries whose CloudEvent (or bulk entry) carries ``marker`` anywhere in its JSON."""
    return lambda d: marker in json.dumps(d["body"])


@contextlib.contextmanager
def start_env(tmp: Path) -> Iterator[PubSubEnv]:
    subs = tmp / "subscriptions.json"
    subs.write_text(json.dumps(SUBSCRIPTIONS))
    events = tmp / "events.jsonl"
    port = free_port()
    with Sidecar.start(
        tmp,
        app_id=APP_ID,
        components=[
            component_yaml(PUBSUB, "pubsub.in-memory"),
            component_yaml(
                SCOPED,
                "pubsub.in-memory",
                {
                    "publishingScopes": f"{APP_ID}=granted;other-app=denied",
                    "subscriptionScopes": f"{APP_ID}=granted",
                },
            ),
            component_yaml(
                OUTBOX_STORE,
                "state.in-memory",
                {"outboxPublishPubsub": PUBSUB, "outboxPublishTopic": "outbox-out"},
            ),
            DECLARATIVE,
            RESILIENCY,
        ],
        args=["--app-port", str(port)],
        app_command=pubsub_app("http_subscriber", port, subs, events),
    ) as sidecar:
        sidecar.wait_ready()
        deadline = time.monotonic() + 20
        while "subscribed to" not in sidecar.logs():
            assert time.monotonic() < deadline, sidecar.logs()
            time.sleep(0.05)
        yield PubSubEnv(sidecar, events)
