"""The state suite's names for the shared fixtures (``tests/conformance/conftest.py``).

- ``store``: one initialised state store (the shared ``component``: gated by ``requires``);
- ``make_store``: builds another store of the test's matrix entry (``make_component``).

Clean-up: the cases leave keys on the shared Redis and rows in the shared PostgreSQL table;
at the end of the session whatever holds a name ``tests.servers.unique`` gave out in this run
is deleted (``tests.brokers.private``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest

from components.state import StateStore
from tests.brokers.private import run_sweeps, sweep_postgres, sweep_redis
from tests.conformance._harness import MakeComponent
from tests.conformance.state.harness import MakeStore
from tests.servers import ISSUED, POSTGRES_DSN, REDIS_URL

# The fixed table of manifests/postgresql.yaml.
POSTGRES_TABLE = "tandem_conformance_state"


@pytest.fixture
def store(component: object) -> StateStore:
    return cast(StateStore, component)


@pytest.fixture
def make_store(make_component: MakeComponent) -> MakeStore:
    return make_component


@pytest.fixture(scope="session", autouse=True)
def _sweep_shared_servers() -> Iterator[None]:
    """At the end of the session, delete what this run's keys left on the shared servers."""
    yield
    tokens = frozenset(ISSUED)
    if tokens:
        jobs = {
            "redis": sweep_redis(tokens, REDIS_URL, kind=None),
            "postgresql": sweep_postgres(tokens, POSTGRES_DSN, POSTGRES_TABLE),
        }
        run_sweeps("the state conformance run", jobs)
