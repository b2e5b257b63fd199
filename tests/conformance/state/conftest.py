"""The state suite's names for the shared fixtures (``tests/conformance/conftest.py``).

- ``store``: one initialised state store (the shared ``component``: gated by ``requires``);
- ``make_store``: builds another store of the test's matrix entry (``make_component``).
"""

from __future__ import annotations

from typing import cast

import pytest

from components.state import StateStore
from tests.conformance._harness import MakeComponent
from tests.conformance.state.harness import MakeStore


@pytest.fixture
def store(component: object) -> StateStore:
    return cast(StateStore, component)


@pytest.fixture
def make_store(make_component: MakeComponent) -> MakeStore:
    return make_component
