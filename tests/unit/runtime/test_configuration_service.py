"""ConfigurationService semantics without a server: errors, coalescing, closing.

(``test_configuration.py`` is about the Configuration *resource*; this is the store API.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from components.base import Component, ComponentContext
from components.configuration import ConfigurationItem
from components.configuration.file import FileConfigurationMetadata, FileConfigurationStore
from runtime.compstore import ComponentStore, LiveComponent
from runtime.errors import APIError
from runtime.services.configuration import ConfigSubscription, ConfigurationService
from runtime.services.configuration_errors import ConfigurationErrors

A1, A2, B1 = ConfigurationItem("a1"), ConfigurationItem("a2"), ConfigurationItem("b1")


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[ConfigurationService]:
    (tmp_path / "c.yaml").write_text("a: a1\n")
    store = FileConfigurationStore(
        FileConfigurationMetadata(path=str(tmp_path / "c.yaml")),
        context=ComponentContext(name="cfg", app_id="app", namespace="default", home=tmp_path),
    )
    await store.init()
    components = ComponentStore()
    live: LiveComponent[Component] = LiveComponent(
        name="cfg", type="configuration.file", version="v1", block="configuration", instance=store
    )
    components.add(live)
    svc = ConfigurationService(components)
    yield svc
    await svc.aclose()
    await store.close()


async def _raises(kind: object, awaitable: object) -> None:
    with pytest.raises(APIError) as info:
        await awaitable  # type: ignore[misc]
    assert info.value.kind is kind


async def test_errors_name_their_table_entries(service: ConfigurationService) -> None:
    await _raises(ConfigurationErrors.STORE_NOT_FOUND, service.get("nope", ["a"]))
    await _raises(ConfigurationErrors.KEY_EMPTY, service.get("cfg", ["a", ""]))
    await _raises(ConfigurationErrors.UNSUBSCRIBE, service.unsubscribe("cfg", "nope"))
    await _raises(ConfigurationErrors.APP_CHANNEL_NIL, service.subscribe_app("cfg", ["a"]))
    empty = ConfigurationService(ComponentStore())
    await _raises(ConfigurationErrors.STORE_NOT_CONFIGURED, empty.get("cfg", []))


async def test_repeated_keys_are_read_once(service: ConfigurationService) -> None:
    assert await service.get("cfg", ["a", "a"]) == {"a": A1}


async def test_pending_changes_collapse_per_key_and_end_with_the_subscription() -> None:
    sub = ConfigSubscription("cfg", [])
    sub._push({"a": A1})
    sub._push({"b": B1})
    sub._push({"a": A2})
    batches = sub.__aiter__()
    assert list((await anext(batches)).items()) == [("b", B1), ("a", A2)]
    sub._push({"a": A1})
    sub._close()  # pending changes are dropped: nothing after unsubscribing
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(batches), 10)  # a hang detector


async def test_unsubscribe_ends_the_stream(service: ConfigurationService) -> None:
    sub = await service.subscribe("cfg", ["a"])
    reader = asyncio.create_task(anext(sub.__aiter__(), None))
    await service.unsubscribe("cfg", sub.id)
    assert await asyncio.wait_for(reader, 10) is None  # a hang detector
    await _raises(ConfigurationErrors.UNSUBSCRIBE, service.unsubscribe("cfg", sub.id))


async def test_errors_never_echo_a_huge_input(service: ConfigurationService) -> None:
    huge = "x" * 100_000
    for call in (
        service.get(huge, ["a"]),
        service.unsubscribe("cfg", huge),
        service.get("cfg", [huge, ""]),
    ):
        with pytest.raises(APIError) as info:
            await call
        assert len(info.value.message) < 400
