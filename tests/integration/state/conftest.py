"""Fixtures of the state integration tests: one sidecar per component kind per module.

``env`` is module-scoped and parametrized over ``KINDS``, so each test module starts one
sidecar per kind (pytest groups the tests by kind) and every test in it shares that sidecar.
Tests isolate themselves with unique keys (``env.key()``); each sidecar has a unique app id and,
on shared servers, its own key space / table, removed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.state._support import KINDS, StateEnv, start_env

_MARKS = {"redis": [pytest.mark.redis], "postgresql": [pytest.mark.postgres]}

KIND_PARAMS = [pytest.param(kind, marks=_MARKS.get(kind, []), id=kind) for kind in KINDS]


@pytest.fixture(scope="module", params=KIND_PARAMS)
def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StateEnv]:
    kind: str = request.param
    with start_env(kind, tmp_path_factory.mktemp(f"state-{kind}")) as e:
        yield e
