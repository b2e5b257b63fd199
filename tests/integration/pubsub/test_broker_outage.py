"""A broker outage through a running sidecar (issue 9, "Bad input and faults"): publishes fail
with ``ERR_PUBSUB_PUBLISH_MESSAGE`` instead of hanging, the sidecar lives on, and once the
broker is back publishing and delivery resume by themselves, without restarting the sidecar.

The broker is a private server on a free port (``tests.brokers.private``), never the shared
one: it is killed (SIGKILL, an outage) and started again on the same port. A private
redis-server keeps nothing on disk, so the restarted one has lost the stream and the consumer
group too: the subscription must create them again. The subscriber is the HTTP app of the
other pub/sub tests (``apps/http_subscriber.py``).

No timing assertion: how fast a publish fails is a figure of ``bench/outage.py`` for state;
here the clients' deadline (``HANG_LIMIT``, far above the component timeouts) only tells a
failure from a hang.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from runtime.errors import TABLE
from runtime.services import pubsub_errors  # noqa: F401  (registers the pub/sub entries)
from tests.brokers.private import PrivateServer, private_mosquitto, private_redis
from tests.integration.harness import (
    Response,
    Sidecar,
    comparable_detail,
    component_yaml,
    free_port,
    wait_until,
)
from tests.integration.pubsub._clients import GrpcPublisher, PublishFailed
from tests.integration.pubsub._support import PubSubEnv, tagged
from tests.integration.pubsub.apps import pubsub_app
from tests.integration.state._grpc import RpcFailure

pytestmark = pytest.mark.integration

PUBSUB = "outageps"
TOPIC = "outage-events"
APP_ID = "outageapp"
CODE = "ERR_PUBSUB_PUBLISH_MESSAGE"
# The clients' deadline: a hang detector, not a speed (the components' timeouts are 2 s).
HANG_LIMIT = 30.0
RECOVERY = 30.0  # how long the sidecar may take to publish again once the broker is back


@dataclass(frozen=True)
class Broker:
    server: Callable[[Path], PrivateServer]
    metadata: Callable[[int], dict[str, str]]
    # Whether a message published after the restart reaches a subscription that has not
    # subscribed again yet. Redis: yes (the stream holds it; the group is created again from
    # its start). A Mosquitto restarted without its state: no, it forgot the sessions and
    # drops what no current subscriber takes (see components/pubsub/mqtt).
    keeps_early: bool


BROKERS = {
    "pubsub.redis": Broker(
        private_redis,
        lambda port: {
            "redisHost": f"127.0.0.1:{port}",
            "dialTimeout": "2s",
            "readTimeout": "2s",
            "writeTimeout": "2s",
        },
        keeps_early=True,
    ),
    "pubsub.mqtt3": Broker(
        private_mosquitto, lambda port: {"url": f"tcp://127.0.0.1:{port}"}, keeps_early=False
    ),
}


@pytest.fixture(params=sorted(BROKERS))
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[PrivateServer, Env]]:
    """A private broker (a missing binary skips), and a sidecar whose pub/sub uses it, with a
    subscribing HTTP app."""
    broker = BROKERS[request.param]
    with broker.server(tmp_path / "broker") as server:
        subs = tmp_path / "subscriptions.json"
        subs.write_text(json.dumps([{"pubsubname": PUBSUB, "topic": TOPIC, "route": "/events"}]))
        events = tmp_path / "events.jsonl"
        port = free_port()
        component = component_yaml(PUBSUB, request.param, broker.metadata(server.port))
        with Sidecar.start(
            tmp_path,
            app_id=APP_ID,
            components=[component],
            args=["--app-port", str(port)],
            app_command=pubsub_app("http_subscriber", port, subs, events),
        ) as sidecar:
            sidecar.wait_ready()
            assert sidecar.wait_for_log("subscribed to"), sidecar.logs()
            env = Env(PubSubEnv(sidecar, events), broker)
            try:
                yield server, env
            finally:
                env.rpc.close()


class Env:
    def __init__(self, pubsub: PubSubEnv, broker: Broker) -> None:
        self.pubsub = pubsub
        self.broker = broker
        self.sidecar = pubsub.sidecar
        self.rpc = GrpcPublisher(pubsub)

    def http(self, marker: str, timeout: float = HANG_LIMIT) -> Response:
        body = json.dumps({"marker": marker})
        return self.sidecar.request(
            "POST",
            f"/v1.0/publish/{PUBSUB}/{TOPIC}",
            body,
            {"Content-Type": "application/json"},
            timeout=timeout,
        )

    def grpc(self, marker: str) -> RpcFailure | None:
        """None when published; the failure otherwise (the call's deadline: 30 s)."""
        try:
            self.rpc.publish(
                TOPIC, json.dumps({"marker": marker}).encode(), "application/json", pubsub=PUBSUB
            )
        except PublishFailed as exc:
            failure = exc.rpc
        else:
            return None
        assert failure is not None
        return failure

    def delivered(self, markers: list[str], timeout: float = RECOVERY) -> None:
        for marker in markers:
            self.pubsub.wait(tagged(marker), timeout=timeout)

    def resubscribed(self) -> None:
        """Poll until a probe published now reaches the app: the subscription is back."""
        deadline = time.monotonic() + RECOVERY
        while True:
            probe = f"probe-{time.monotonic_ns()}"
            assert self.http(probe).status == 204
            try:
                self.pubsub.wait(tagged(probe), timeout=1.0)
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def recovered(self, published: list[str]) -> None:
        """Messages published from now on all reach the app (over HTTP and gRPC); and so do
        ``published`` (the ones accepted since the restart) when the broker keeps them."""
        if self.broker.keeps_early:
            self.delivered(published)
        else:
            self.resubscribed()
        later = [f"later-{n}-{time.monotonic_ns()}" for n in range(4)]
        for marker in later[:2]:
            assert self.http(marker).status == 204
        for marker in later[2:]:
            assert self.grpc(marker) is None
        self.delivered(later)


def test_publish_fails_during_a_broker_outage_and_recovers(
    outage: tuple[PrivateServer, Env],
) -> None:
    server, env = outage
    before = [f"before-{n}-{time.monotonic_ns()}" for n in range(2)]
    assert env.http(before[0]).status == 204
    assert env.grpc(before[1]) is None
    env.delivered(before)

    server.stop()  # SIGKILL: the broker is gone

    r = env.http("during-http")
    assert (r.status, r.json().get("errorCode")) == (500, CODE), r.text
    failure = env.grpc("during-grpc")
    assert failure is not None, "PublishEvent succeeded with the broker down"
    assert (failure.code, failure.error_code) == (grpc.StatusCode.INTERNAL, CODE), failure
    pair = (CODE, r.status, failure.code)
    assert any((k.code, int(k.http_status), k.grpc_code) == pair for k in TABLE.values()), pair
    doc = r.json()
    assert [comparable_detail(d) for d in doc["details"]] == [
        comparable_detail(d) for d in failure.details
    ]
    assert env.sidecar.proc.poll() is None, env.sidecar.logs()
    assert env.sidecar.request("GET", "/v1.0/healthz/outbound", timeout=5).status == 204
    assert "Traceback" not in env.sidecar.logs(), env.sidecar.logs()[-3000:]

    server.start()  # the same port

    after: list[str] = []

    def published() -> bool:
        marker = f"after-{len(after)}-{time.monotonic_ns()}"
        status = env.http(marker, timeout=HANG_LIMIT).status
        assert status in (204, 500), status
        if status == 204:
            after.append(marker)
        return status == 204

    assert wait_until(published, timeout=RECOVERY, interval=0.1), env.sidecar.logs()[-3000:]
    grpc_marker = f"after-grpc-{time.monotonic_ns()}"
    assert env.grpc(grpc_marker) is None
    after.append(grpc_marker)
    # delivery resumes with no restart of the sidecar
    env.recovered(after)
    assert env.sidecar.proc.poll() is None
    assert "Traceback" not in env.sidecar.logs(), env.sidecar.logs()[-3000:]


def test_publish_fails_while_the_broker_hangs(outage: tuple[PrivateServer, Env]) -> None:
    """A broker that keeps its connections but answers nothing (SIGSTOP): publishes fail within
    the component's timeout, they do not wait for it; once it answers again they succeed."""
    server, env = outage
    server.pause()
    try:
        r = env.http("paused-http")
        assert (r.status, r.json().get("errorCode")) == (500, CODE), r.text
        failure = env.grpc("paused-grpc")
        assert failure is not None, "PublishEvent succeeded with the broker paused"
        assert (failure.code, failure.error_code) == (grpc.StatusCode.INTERNAL, CODE), failure
        assert env.sidecar.proc.poll() is None, env.sidecar.logs()
    finally:
        server.resume()
    after: list[str] = []

    def published() -> bool:
        marker = f"resumed-{len(after)}-{time.monotonic_ns()}"
        if env.http(marker).status != 204:
            return False
        after.append(marker)
        return True

    assert wait_until(published, timeout=RECOVERY, interval=0.1), env.sidecar.logs()[-3000:]
    env.recovered(after)
