"""The configuration suite's fixtures on top of the shared ones (``tests/conformance/conftest``).

- ``store``: one initialised configuration store of the test's matrix entry;
- ``updater``: changes that store's backend directly (created before the store's first
  write; cleaned up after the test: keys deleted, tables dropped).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from components.configuration import ConfigurationStore
from tests.conformance._harness import Case
from tests.conformance.configuration.harness import Updater, make_updater


@pytest.fixture
async def updater(case: Case[Any], tmp_path: Path, unique_name: str) -> AsyncIterator[Updater]:
    found = make_updater(case.options.updater, tmp_path, unique_name)
    yield found
    await found.aclose()


@pytest.fixture
def store(updater: Updater, component: object) -> ConfigurationStore:
    return cast(ConfigurationStore, component)
