"""The pub/sub suite's names for the shared fixtures (``tests/conformance/conftest.py``).

- ``pubsub``: one initialised component (the shared ``component``: gated by ``requires``);
- ``make_pubsub``: builds another component of the test's matrix entry (``make_component``);
- ``replica``: a second handle on the same broker for consumer-group cases: another instance
  when the entry is ``shared``, else ``pubsub`` itself;
- ``topic``, ``group``: names unique to the test.

Clean-up: the cases leave streams, queues, exchanges and persistent sessions on the shared
brokers; each test's MQTT sessions are ended after it (their client ids are in the slot files
under the test's home), and the rest is swept once at the end of the session: whatever holds a
name ``tests.servers.unique`` gave out in this run (``tests.brokers.private``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from components.pubsub import PubSub
from tests.brokers.private import (
    end_mqtt_sessions,
    run_sweeps,
    sweep_jetstream,
    sweep_rabbit,
    sweep_redis,
)
from tests.conformance._harness import Case, MakeComponent
from tests.conformance.pubsub.harness import MakePubSub
from tests.servers import ISSUED, REDIS_URL, unique


@pytest.fixture
def pubsub(component: object) -> PubSub:
    return cast(PubSub, component)


@pytest.fixture
def make_pubsub(make_component: MakeComponent) -> MakePubSub:
    return make_component


@pytest.fixture
async def replica(pubsub: PubSub, make_pubsub: MakePubSub, case: Case[Any]) -> PubSub:
    return await make_pubsub() if case.options.shared else pubsub


@pytest.fixture
def topic() -> str:
    return unique("topic")


@pytest.fixture
def group() -> str:
    return unique("group")


def _session_ids(home: Path) -> list[str]:
    """The client ids of the MQTT session slots claimed under ``home``."""
    return [
        text
        for lock in home.rglob("mqtt-sessions/*.lock")
        if (text := lock.read_text(errors="replace").strip())
    ]


@pytest.fixture(autouse=True)
async def _end_mqtt_sessions(tmp_path: Path) -> AsyncIterator[None]:
    """After the test (its components closed first: this fixture is set up before them), end
    the persistent sessions its MQTT subscriptions opened."""
    yield
    identifiers = _session_ids(tmp_path)
    if identifiers:
        await end_mqtt_sessions(identifiers)


@pytest.fixture(scope="session", autouse=True)
def _sweep_shared_brokers() -> Iterator[None]:
    """At the end of the session, delete what this run's names left on the shared brokers."""
    yield
    tokens = frozenset(ISSUED)
    if tokens:
        jobs = {
            "redis": sweep_redis(tokens, REDIS_URL),
            "jetstream": sweep_jetstream(tokens),
            "rabbitmq": sweep_rabbit(tokens),
        }
        run_sweeps("the pub/sub conformance run", jobs)
