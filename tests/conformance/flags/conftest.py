"""The flags suite's names for the shared fixtures: ``source`` is the initialised component,
bound (for a store-bound source, ``flags.configuration``) to a ``configuration.file`` store
whose item ``flags`` holds ``manifests/flags.json``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from components.base import ComponentContext
from components.configuration.file import FileConfigurationStore
from components.flags import FlagSource, StoreBoundSource

FIXTURE = Path(__file__).parent / "manifests" / "flags.json"


@pytest.fixture
async def source(component: FlagSource, tmp_path: Path) -> AsyncIterator[FlagSource]:
    if not isinstance(component, StoreBoundSource):
        yield component
        return
    items = tmp_path / "configuration.yaml"
    items.write_text(json.dumps({"flags": {"value": FIXTURE.read_text(), "version": "1"}}))
    meta = FileConfigurationStore.Metadata.model_validate({"path": str(items)})
    context = ComponentContext(name="store", app_id="app", namespace="", home=tmp_path)
    store = FileConfigurationStore(meta, context=context)  # type: ignore[arg-type]
    await store.init()
    try:
        await component.bind(store)
        yield component
    finally:
        await component.close()
        await store.close()
