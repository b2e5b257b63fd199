"""The component lifecycle contract (``components.base``) for every state entry of the catalog.

For each ``state.*`` catalog entry whose code exists and whose driver is importable:
its class reports the catalog's type and version; ``close()`` without ``init()`` is safe and
idempotent; ``init()``/``close()`` work for several instances in turn (files, locks and
connections are released). Every implemented state component must be in the matrix, so none
escapes the conformance suite.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest
import yaml

from components.base import BaseMetadata, Component
from runtime.catalog import CATALOG, CatalogEntry
from tests.conformance.state.harness import StoreCase, build_store, load_matrix
from tests.servers import require_server, unique

STATE_ENTRIES = [e for e in CATALOG if e.type.startswith("state.")]


def _class(entry: CatalogEntry) -> type[Component]:
    module_name, _, attr = entry.target.partition(":")
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"{entry.target} is not implemented yet")
    for driver in entry.requires:
        if importlib.util.find_spec(driver) is None:
            pytest.skip(f"{entry.type} needs {driver!r} (pip install 'tandem[{entry.extra}]')")
    cls: type[Component] = getattr(importlib.import_module(module_name), attr)
    return cls


def _case(entry: CatalogEntry) -> StoreCase | None:
    for case in load_matrix():
        manifest = yaml.safe_load(case.manifest.read_text(encoding="utf-8"))
        if manifest["spec"]["type"] == entry.type:
            return case
    return None


def _require_case(entry: CatalogEntry) -> StoreCase:
    case = _case(entry)
    if case is None:
        pytest.fail(f"{entry.type} has no entry in tests/conformance/state/components.yaml")
    if case.server is not None:
        require_server(case.server)
    return case


@pytest.fixture(params=STATE_ENTRIES, ids=lambda e: e.type)
def entry(request: pytest.FixtureRequest) -> CatalogEntry:
    found: CatalogEntry = request.param
    return found


def test_class_reports_the_catalog_type(entry: CatalogEntry) -> None:
    cls = _class(entry)
    assert cls.info.type == entry.type
    assert cls.info.version == entry.version
    assert issubclass(cls.Metadata, BaseMetadata)


def test_every_implemented_component_is_in_the_matrix(entry: CatalogEntry) -> None:
    _class(entry)
    assert _case(entry) is not None, f"add {entry.type} to the conformance matrix"


async def test_close_without_init_is_safe_and_idempotent(
    entry: CatalogEntry, tmp_path: Path
) -> None:
    _class(entry)
    case = _require_case(entry)
    store = build_store(case, tmp_path, unique("life"))
    await store.close()
    await store.close()


async def test_init_close_in_turn(entry: CatalogEntry, tmp_path: Path) -> None:
    _class(entry)
    case = _require_case(entry)
    name = unique("life")
    for _ in range(2):
        store = build_store(case, tmp_path, name)
        await store.init()
        assert store.features() == case.features
        await store.close()
        await store.close()
