"""Every catalog entry of every block is backed by a matching class, and covered.

- the checker (``_harness.catalog``) reports a missing module or class, a type or version that
  does not match, and invalid metadata defaults: shown on fabricated entries, then required
  of every real ``runtime.catalog.CATALOG`` entry (a missing module fails; only a missing
  driver skips, and fails under ``CI=true``);
- every catalog block has a conformance block, every entry a matrix entry (so lifecycle and
  feature coherence run for it), and every class is checked statically against its block's
  Protocol (``tests/typing/<block>.py``, collected by ``tests/typing/components.py``).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import pytest
from pydantic import Field, field_validator

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from runtime.catalog import CATALOG, CatalogEntry
from tests.conformance._harness import entry_problems, load_class, load_matrix, missing_drivers
from tests.conformance.blocks import BLOCKS


class _BadDefaultMetadata(BaseMetadata):
    timeout: int = Field(default=-1)

    @field_validator("timeout")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("timeout must be positive")
        return v


class _BadDefaults:
    """A component whose metadata default fails its own validator."""

    info: ClassVar[ComponentInfo] = ComponentInfo(type="state.bad-defaults")
    Metadata: ClassVar[type[BaseMetadata]] = _BadDefaultMetadata

    def __init__(self, metadata: Any, *, context: ComponentContext) -> None:
        pass

    async def init(self) -> None:
        pass

    async def close(self) -> None:
        pass


class _NoInfo:
    Metadata: ClassVar[type[BaseMetadata]] = BaseMetadata


HERE = __name__
FABRICATED = [
    pytest.param(
        CatalogEntry(type="state.bogus", target="components.state.bogus:BogusStore"),
        "module components.state.bogus not found",
        id="missing-module",
    ),
    pytest.param(
        CatalogEntry(type="pubsub.bogus", target="components.pubsub.bogus:Bogus"),
        "module components.pubsub.bogus not found",
        id="missing-package",
    ),
    pytest.param(
        CatalogEntry(type="state.sqlite", target="components.state.sqlite:NoSuchStore"),
        "has no attribute NoSuchStore",
        id="missing-class",
    ),
    pytest.param(
        CatalogEntry(type="state.sqlite", target="components.state.sqlite.SqliteStateStore"),
        "is not 'package.module:Class'",
        id="malformed-target",
    ),
    pytest.param(
        CatalogEntry(type="state.sqlite", target="components.state.sqlite:SCHEMA_VERSION"),
        "is not a class",
        id="not-a-class",
    ),
    pytest.param(
        CatalogEntry(type="state.other", target="components.state.sqlite:SqliteStateStore"),
        "info.type is 'state.sqlite', not 'state.other'",
        id="wrong-type",
    ),
    pytest.param(
        CatalogEntry(
            type="state.sqlite", version="v2", target="components.state.sqlite:SqliteStateStore"
        ),
        "info.version is 'v1', not 'v2'",
        id="wrong-version",
    ),
    pytest.param(
        CatalogEntry(type="state.bad-defaults", target=f"{HERE}:_BadDefaults"),
        "metadata default timeout: Value error, timeout must be positive",
        id="invalid-metadata-default",
    ),
    pytest.param(
        CatalogEntry(type="state.no-info", target=f"{HERE}:_NoInfo"),
        "info is not a ComponentInfo",
        id="no-info",
    ),
    pytest.param(
        CatalogEntry(type="State.Sqlite", target="components.state.sqlite:SqliteStateStore"),
        "is not '<block>.<name>' in lower case",
        id="malformed-type",
    ),
]


@pytest.mark.parametrize(("entry", "expected"), FABRICATED)
def test_the_checker_reports_a_broken_entry(entry: CatalogEntry, expected: str) -> None:
    problems = entry_problems(entry)
    assert any(expected in p for p in problems), problems


def test_the_checker_accepts_a_sound_entry() -> None:
    sound = CatalogEntry(type="state.bad-defaults", target=f"{HERE}:_BadDefaults")
    assert entry_problems(sound) != []  # its default is invalid...
    fixed = CatalogEntry(type="state.sqlite", target="components.state.sqlite:SqliteStateStore")
    assert entry_problems(fixed) == []  # ...while a real component passes


def _require_drivers(entry: CatalogEntry) -> None:
    missing = missing_drivers(entry)
    if not missing:
        return
    message = f"{entry.type} needs {missing} (pip install 'tandem[{entry.extra}]')"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: every extra must be installed)")
    pytest.skip(message)


@pytest.fixture(params=CATALOG, ids=lambda e: e.type)
def entry(request: pytest.FixtureRequest) -> CatalogEntry:
    found: CatalogEntry = request.param
    _require_drivers(found)
    return found


def test_catalog_entry_is_sound(entry: CatalogEntry) -> None:
    assert entry_problems(entry) == []


def test_catalog_block_has_a_conformance_block(entry: CatalogEntry) -> None:
    block = entry.type.partition(".")[0]
    assert block in BLOCKS, f"add a conformance block tests/conformance/{block}/block.py"


def test_catalog_entry_has_a_matrix_entry(entry: CatalogEntry) -> None:
    block = BLOCKS.get(entry.type.partition(".")[0])
    assert block is not None
    types = {case.type for case in load_matrix(block)}
    assert entry.type in types, f"add {entry.type} to {block.matrix_file}"


def test_catalog_class_is_checked_statically(entry: CatalogEntry) -> None:
    for other in CATALOG:
        _require_drivers(other)  # the typing module imports every component
    from tests.typing.components import CHECKED

    block = entry.type.partition(".")[0]
    assert load_class(entry) in CHECKED.get(block, ()), (
        f"add {entry.target} to CHECKED in tests/typing/{block}.py"
    )
