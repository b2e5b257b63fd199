"""Fixtures of every conformance suite, parametrized by the blocks' matrices.

A test under ``tests/conformance/<block>/`` runs once per entry of that block's matrix; a test
at the top (the generic suites) once per entry of every block. Fixtures:

- ``case``: the matrix entry (skips, or fails under CI, when its server is unreachable);
- ``feature``: with ``case`` in a generic suite, each feature of the entry's block in turn
  that the entry does not declare or that has a capability Protocol;
- ``make_component``: builds (and by default initialises) another component from the entry's
  manifest, sharing the test's temp folder (durable stores share data); every component is
  closed after the test, in reverse order;
- ``component``: one initialised component; skips the test when it lacks a feature the test
  ``requires``;
- ``unique_name``, ``key``: random names isolating the test on shared servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from components.base import Component
from tests.conformance._harness import (
    FEATURE_MARK,
    Case,
    MakeComponent,
    build_component,
    load_matrix,
    missing_features,
)
from tests.conformance.blocks import BLOCKS, block_of
from tests.servers import require_server, unique


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{FEATURE_MARK}(*features): run only for components declaring these features"
    )


def _param(case: Case[Any], *values: object, id_: str) -> Any:
    marks = [getattr(pytest.mark, case.server)] if case.server else []
    return pytest.param(case, *values, id=id_, marks=marks)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    block = block_of(metafunc.definition.path)
    blocks = list(BLOCKS.values()) if block is None else [block]
    cases = [c for b in blocks for c in load_matrix(b)]
    if "feature" in metafunc.fixturenames:
        # Declared features without a capability Protocol are the block's own cases' business.
        params = [
            _param(c, f, id_=f"{c.id}-{f}")
            for c in cases
            for f in c.block.features
            if f not in c.features or getattr(c.block.checks.get(f), "protocol", None)
        ]
        metafunc.parametrize(["case", "feature"], params, indirect=["case"])
    else:
        params = [_param(c, id_=c.name if block else c.id) for c in cases]
        metafunc.parametrize("case", params, indirect=True)


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Case[Any]:
    entry: Case[Any] = request.param
    if entry.server is not None:
        require_server(entry.server)
    return entry


@pytest.fixture
def unique_name() -> str:
    return unique("conf")


@pytest.fixture
async def make_component(
    case: Case[Any], tmp_path: Path, unique_name: str
) -> AsyncIterator[MakeComponent]:
    opened: list[Component] = []

    async def make(*, init: bool = True) -> Any:
        built = build_component(case, tmp_path, unique_name)
        opened.append(built)
        if init:
            await built.init()
        return built

    yield make
    for built in reversed(opened):
        await built.close()


@pytest.fixture
async def component(
    make_component: MakeComponent, case: Case[Any], request: pytest.FixtureRequest
) -> Any:
    subject = await make_component()
    missing = missing_features(request.node, case.block.declared(subject))
    if missing:
        pytest.skip(f"the component does not declare {', '.join(missing)}")
    return subject


@pytest.fixture
def key() -> str:
    return unique("k")
