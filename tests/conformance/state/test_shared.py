"""Several sidecars on one store (matrix entries with ``durable: true``).

Two instances built from the same manifest (same file or server) see each other's writes and
ETags at once, start together safely (schema creation races), keep ETag checks atomic across
instances (concurrent compare-and-set loses no update; of two first-writes exactly one wins),
and keep their data after every instance closed.
"""

from __future__ import annotations

import asyncio

import pytest

from components.errors import ETagMismatch
from components.state import (
    Concurrency,
    GetRequest,
    SetRequest,
    StateFeature,
    StateStore,
)
from tests.conformance.state.harness import MakeStore, StoreCase


@pytest.fixture
async def pair(case: StoreCase, make_store: MakeStore) -> tuple[StateStore, StateStore]:
    if not case.options.durable:
        pytest.skip("the store keeps its data per instance (durable: false)")
    # Initialised concurrently: schema creation and migrations must not race.
    a, b = await make_store(init=False), await make_store(init=False)
    await asyncio.gather(a.init(), b.init())
    return a, b


async def test_writes_and_etags_are_shared(pair: tuple[StateStore, StateStore], key: str) -> None:
    a, b = pair
    await a.set(SetRequest(key=key, value=b"from-a"))
    seen = await b.get(GetRequest(key=key))
    assert seen is not None
    assert seen.value == b"from-a"
    if StateFeature.ETAG in b.features():
        own = await a.get(GetRequest(key=key))
        assert own is not None
        assert seen.etag == own.etag
        await b.set(SetRequest(key=key, value=b"from-b", etag=seen.etag))
        with pytest.raises(ETagMismatch):
            await a.set(SetRequest(key=key, value=b"stale", etag=own.etag))
    else:
        await b.set(SetRequest(key=key, value=b"from-b"))
    final = await a.get(GetRequest(key=key))
    assert final is not None
    assert final.value == b"from-b"


async def test_first_write_race_has_one_winner(
    pair: tuple[StateStore, StateStore], key: str
) -> None:
    a, b = pair
    for round_ in range(5):
        k = f"{key}-{round_}"
        outcomes = await asyncio.gather(
            a.set(SetRequest(key=k, value=b"a", concurrency=Concurrency.FIRST_WRITE)),
            b.set(SetRequest(key=k, value=b"b", concurrency=Concurrency.FIRST_WRITE)),
            return_exceptions=True,
        )
        failures = [o for o in outcomes if o is not None]
        assert len(failures) == 1, outcomes
        assert isinstance(failures[0], ETagMismatch)
        winner = b"a" if outcomes[0] is None else b"b"
        item = await a.get(GetRequest(key=k))
        assert item is not None
        assert item.value == winner


async def test_compare_and_set_loses_no_update(
    pair: tuple[StateStore, StateStore], key: str
) -> None:
    a, b = pair
    if StateFeature.ETAG not in a.features():
        pytest.skip("the store does not declare ETAG")
    await a.set(SetRequest(key=key, value=b"0"))

    async def increment(store: StateStore, times: int) -> None:
        done = 0
        while done < times:
            item = await store.get(GetRequest(key=key))
            assert item is not None
            try:
                await store.set(
                    SetRequest(key=key, value=str(int(item.value) + 1).encode(), etag=item.etag)
                )
            except ETagMismatch:
                continue
            done += 1

    workers = [increment(store, 15) for store in (a, b, a, b)]
    await asyncio.gather(*workers)
    final = await b.get(GetRequest(key=key))
    assert final is not None
    assert final.value == b"60"


async def test_data_outlives_the_instances(
    pair: tuple[StateStore, StateStore], make_store: MakeStore, key: str
) -> None:
    a, b = pair
    await a.set(SetRequest(key=key, value=b"kept"))
    await a.close()
    await b.close()
    reopened = await make_store()
    item = await reopened.get(GetRequest(key=key))
    assert item is not None
    assert item.value == b"kept"
