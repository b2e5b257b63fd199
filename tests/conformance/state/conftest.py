"""Fixtures of the state conformance suite, parametrized by the matrix in components.yaml.

- ``case``: the matrix entry (skips, or fails under CI, when its server is unreachable);
- ``make_store``: builds and initialises another store from the entry's manifest, sharing the
  test's temp folder (so durable stores share data); every store is closed after the test;
- ``store``: one initialised store; skips the test when it lacks a ``state_feature`` the test
  is marked with;
- ``key``: a random prefix that isolates the test's keys on shared servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from components.state import StateStore
from tests.conformance.state.harness import (
    FEATURE_MARK,
    MakeStore,
    StoreCase,
    build_store,
    load_matrix,
)
from tests.servers import require_server, unique


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{FEATURE_MARK}(*features): run only for state stores declaring these StateFeatures",
    )


def _params() -> list[object]:
    params: list[object] = []
    for case in load_matrix():
        marks = [getattr(pytest.mark, case.server)] if case.server else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


@pytest.fixture(params=_params())
def case(request: pytest.FixtureRequest) -> StoreCase:
    entry: StoreCase = request.param
    if entry.server is not None:
        require_server(entry.server)
    return entry


@pytest.fixture
def unique_name() -> str:
    return unique("conf")


@pytest.fixture
async def make_store(case: StoreCase, tmp_path: Path, unique_name: str) -> AsyncIterator[MakeStore]:
    opened: list[StateStore] = []

    async def make(*, init: bool = True) -> StateStore:
        store = build_store(case, tmp_path, unique_name)
        opened.append(store)
        if init:
            await store.init()
        return store

    yield make
    for store in reversed(opened):
        await store.close()


@pytest.fixture
async def store(make_store: MakeStore, request: pytest.FixtureRequest) -> StateStore:
    subject = await make_store()
    declared = subject.features()
    for mark in request.node.iter_markers(FEATURE_MARK):
        missing = [str(f) for f in mark.args if f not in declared]
        if missing:
            pytest.skip(f"the store does not declare {', '.join(missing)}")
    return subject


@pytest.fixture
def key() -> str:
    return unique("k")
