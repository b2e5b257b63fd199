"""A gRPC app (the official SDK's ``dapr.ext.grpc.App``, ``tests/integration/apps``) receives
events through ``OnTopicEvent``, with the matched route, its verdicts honoured; delivery pauses
while the app's health check fails and resumes, losing nothing, when it recovers.

The app answers the status named in the event data (``success``, ``retry``, ``drop``) and raises
on ``boom``; each event's id is set with ``cloudevent.id`` so a test can find its deliveries.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.apps import python_app
from tests.integration.harness import Sidecar, component_yaml, free_port, wait_until

pytestmark = pytest.mark.integration


class GrpcAppEnv:
    def __init__(self, sidecar: Sidecar, log: Path, healthy: Path) -> None:
        self.sidecar = sidecar
        self.log = log
        self.healthy = healthy

    def publish(self, data: str, *, event_type: str | None = None) -> str:
        event_id = uuid.uuid4().hex
        query = f"metadata.cloudevent.id={event_id}"
        if event_type:
            query += f"&metadata.cloudevent.type={event_type}"
        r = self.sidecar.request(
            "POST", f"/v1.0/publish/pubsub/orders?{query}", data, {"Content-Type": "text/plain"}
        )
        assert r.status == 204, r.text
        return event_id

    def received(self, event_id: str) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [e for e in entries if e["id"] == event_id]

    def wait(self, event_id: str, count: int = 1) -> list[dict[str, Any]]:
        ok = wait_until(lambda: len(self.received(event_id)) >= count, 20)
        assert ok, self.sidecar.logs()[-3000:]
        return self.received(event_id)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcAppEnv]:
    tmp = tmp_path_factory.mktemp("grpc-app")
    port, log, healthy = free_port(), tmp / "events.jsonl", tmp / "healthy"
    healthy.touch()
    flags = ["--app-port", str(port), "--app-protocol", "grpc", "--enable-app-health-check"]
    flags += ["--app-health-probe-interval", "0.05", "--app-health-threshold", "1"]
    with Sidecar.start(
        tmp,
        components=[component_yaml("pubsub", "pubsub.in-memory")],
        args=flags,
        app_command=python_app("grpc_callback_app", port, log, healthy),
    ) as sidecar:
        sidecar.wait_ready()
        assert wait_until(lambda: "subscribed to" in sidecar.logs(), 20), sidecar.logs()
        yield GrpcAppEnv(sidecar, log, healthy)


def test_event_reaches_the_default_route(app: GrpcAppEnv) -> None:
    event_id = app.publish("success")
    (got,) = app.wait(event_id)
    assert got["route"] == "default"
    assert got["topic"] == "orders"
    assert got["pubsub"] == "pubsub"
    assert got["data"] == "success"


def test_routing_rule_picks_the_route(app: GrpcAppEnv) -> None:
    event_id = app.publish("success", event_type="priority")
    (got,) = app.wait(event_id)
    assert got["route"] == "priority"


@pytest.mark.parametrize("verdict", ["retry", "boom"])
def test_retry_and_failure_are_delivered_again(app: GrpcAppEnv, verdict: str) -> None:
    event_id = app.publish(verdict)
    app.wait(event_id, count=2)


def test_drop_is_not_delivered_again(app: GrpcAppEnv) -> None:
    dropped, retried = app.publish("drop"), app.publish("retry")
    app.wait(retried, count=3)  # by now a retried drop would have come back too
    assert len(app.received(dropped)) == 1


def test_delivery_pauses_while_the_app_is_unhealthy(app: GrpcAppEnv) -> None:
    def healthz() -> int:
        return app.sidecar.request("GET", "/v1.0/healthz").status

    app.healthy.unlink()
    try:
        assert wait_until(lambda: healthz() == 500, 15)
        assert wait_until(lambda: "pausing" in app.sidecar.logs(), 15), app.sidecar.logs()
        event_id = app.publish("success")  # waits in the broker
    finally:
        app.healthy.touch()
    assert wait_until(lambda: healthz() == 204, 15)
    (got,) = app.wait(event_id)
    assert got["data"] == "success"
