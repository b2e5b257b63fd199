"""The component store hands out components by block: a name in one block is not in another."""

from __future__ import annotations

from pathlib import Path

from components.base import ComponentContext
from components.state.in_memory import InMemoryStateStore
from runtime.compstore import ComponentStore, LiveComponent


def _live(name: str, block: str) -> LiveComponent[InMemoryStateStore]:
    context = ComponentContext(name=name, app_id="app", namespace="default", home=Path())
    instance = InMemoryStateStore(InMemoryStateStore.Metadata(), context=context)
    return LiveComponent(
        name=name, type=f"{block}.in-memory", version="v1", block=block, instance=instance
    )


def test_state_returns_only_state_components() -> None:
    store = ComponentStore()
    assert store.state("one") is None
    assert not store.has_block("state")
    state, other = _live("one", "state"), _live("two", "pubsub")
    store.add(state)
    store.add(other)
    found = store.state("one")
    assert found is state
    assert store.state("two") is None
    assert store.get("pubsub", "two") is other
    assert store.names("state") == ["one"]
    assert sorted(c.name for c in store) == ["one", "two"]


def test_secret_store_returns_only_secret_stores() -> None:
    store = ComponentStore()
    state, secrets = _live("same", "state"), _live("vault", "secretstores")
    store.add(state)
    store.add(secrets)
    found: object = store.secret_store("vault")
    assert found is secrets
    assert store.secret_store("same") is None
    assert store.state("vault") is None
