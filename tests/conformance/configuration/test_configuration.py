"""The configuration store contract, for every matrix entry (after Dapr's conformance suite).

Items are written straight into the backend by the ``updater``; three subscribers watch key
sets A, A+B and everything. Waiting is polling with a deadline; "nothing arrived" is checked at
the moment a later subscriber of the same change has received it (a store reports one change to
every subscription at once), so no case sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.configuration import ConfigurationItem, ConfigurationStore, SubscriptionNotFound
from tests.conformance._harness import Case, eventually
from tests.conformance.configuration.harness import Recorder, Updater

WAIT = 10.0
VERSION = "1.0.0"


def _keys(tag: str, n: int = 4) -> list[str]:
    return [f"{tag}_key_{i}" for i in range(n)]


def _values(keys: list[str], run: str) -> dict[str, tuple[str, str]]:
    return {k: (f"{k}_{run}", VERSION) for k in keys}


def _items(values: dict[str, tuple[str, str]]) -> dict[str, ConfigurationItem]:
    return {k: ConfigurationItem(value=v, version=ver) for k, (v, ver) in values.items()}


async def _received(recorder: Recorder, expected: dict[str, ConfigurationItem]) -> None:
    async def check() -> bool:
        latest = recorder.latest()
        return all(latest.get(k) == v for k, v in expected.items())

    await eventually(check, within=WAIT, interval=0.02)


async def test_get_returns_exactly_the_asked_items(
    store: ConfigurationStore, updater: Updater
) -> None:
    a, b = _values(_keys("a"), "v1"), _values(_keys("b"), "v1")
    await updater.set({**a, **b})

    async def check() -> bool:
        return await store.get(list(a)) == _items(a)

    await eventually(check, within=WAIT, interval=0.02)  # the file store sees writes by polling
    first = next(iter(b))
    assert await store.get([first]) == {first: _items(b)[first]}
    assert await store.get([]) == _items({**a, **b})  # no keys: every item, nothing else
    assert await store.get(_keys("missing")) == {}


async def test_subscribers_get_the_changes_of_their_keys(
    store: ConfigurationStore, updater: Updater, case: Case[Any]
) -> None:
    keys_a, keys_b, keys_c = _keys("a"), _keys("b"), _keys("c")
    await updater.set({**_values(keys_a, "v1"), **_values(keys_b, "v1")})
    await eventually(lambda: _has(store, keys_a + keys_b), within=WAIT, interval=0.02)
    s1, s2, s3 = Recorder(), Recorder(), Recorder()
    await store.subscribe(keys_a, s1)
    await store.subscribe(keys_a + keys_b, s2)
    await store.subscribe([], s3)

    new_a = _values(keys_a, "v2")
    await updater.set(new_a)
    for sub in (s1, s2, s3):
        await _received(sub, _items(new_a))

    new_b = _values(keys_b, "v2")
    await updater.set(new_b)
    await _received(s2, _items(new_b))
    await _received(s3, _items(new_b))
    assert s1.seen_keys() <= set(keys_a)

    created = _values(keys_c, "v1")  # keys created after subscribing: only the all-keys one
    await updater.set(created)
    await _received(s3, _items(created))
    assert s1.seen_keys() <= set(keys_a)
    assert s2.seen_keys() <= set(keys_a + keys_b)

    await updater.delete(keys_b)
    deleted = (
        _items(new_b)
        if case.options.delete_keeps_item
        else dict.fromkeys(keys_b, ConfigurationItem())
    )
    for sub in (s2, s3):
        await _received(sub, deleted)
    assert s1.seen_keys() <= set(keys_a)


async def _has(store: ConfigurationStore, keys: list[str]) -> bool:
    return set(await store.get(keys)) == set(keys)


async def test_unsubscribed_subscribers_hear_nothing_more(
    store: ConfigurationStore, updater: Updater
) -> None:
    keys = _keys("a")
    await updater.set(_values(keys, "v1"))
    await eventually(lambda: _has(store, keys), within=WAIT, interval=0.02)
    s1, s2, s3 = Recorder(), Recorder(), Recorder()
    id1 = await store.subscribe(keys, s1)
    id2 = await store.subscribe(keys, s2)
    await store.subscribe([], s3)
    assert len({id1, id2}) == 2

    await store.unsubscribe(id1)
    v2 = _values(keys, "v2")
    await updater.set(v2)
    await _received(s2, _items(v2))
    await _received(s3, _items(v2))
    assert s1.batches == []

    await store.unsubscribe(id2)
    s2.clear()
    v3 = _values(keys, "v3")
    await updater.set(v3)
    await _received(s3, _items(v3))
    assert s2.batches == []


async def test_unsubscribing_an_unknown_id_fails(store: ConfigurationStore) -> None:
    with pytest.raises(SubscriptionNotFound):
        await store.unsubscribe("no-such-subscription")
    sub_id = await store.subscribe(["k"], Recorder())
    await store.unsubscribe(sub_id)
    with pytest.raises(SubscriptionNotFound):
        await store.unsubscribe(sub_id)


async def test_values_keep_their_text(store: ConfigurationStore, updater: Updater) -> None:
    odd = {"unicode": ("grüße 🚀", "v1"), "empty": ("", "2"), "spaces": ("  a b  ", "3")}
    await updater.set(odd)
    await eventually(lambda: _has(store, list(odd)), within=WAIT, interval=0.02)
    assert await store.get(list(odd)) == _items(odd)
