"""TTL (Dapr state conformance cases 16 and 17, at component level).

``ttl_seconds`` N > 0: the item reads back with ``expires_at`` ≈ now + N and disappears after N
seconds (get, bulk get, ETag writes treat it as missing); a write without a TTL (None or 0)
clears an earlier one. Parsing ``ttlInSeconds`` ("foo" is rejected, -1 means none) is the state
service's job, so case 16a is not a component case.
"""

from __future__ import annotations

import time

import pytest

from components.errors import ETagMismatch
from components.state import GetRequest, SetRequest, StateFeature, StateItem, StateStore
from tests.conformance._harness import eventually, requires

pytestmark = requires(StateFeature.TTL)

VALUE = '"⏱️"'.encode()


async def _item(store: StateStore, key: str) -> StateItem:
    item = await store.get(GetRequest(key=key))
    assert item is not None, key
    return item


def _near(item: StateItem, expected: float, tolerance: float) -> bool:
    return item.expires_at is not None and abs(item.expires_at.timestamp() - expected) < tolerance


async def test_item_expires_after_its_ttl(store: StateStore, key: str) -> None:
    """Case 16b: readable at once, gone within the deadline, not before its time."""
    written = time.time()
    await store.set(SetRequest(key=key, value=VALUE, ttl_seconds=2))
    item = await _item(store, key)
    assert item.value == VALUE
    assert _near(item, written + 2, 1.0), item.expires_at
    etag = item.etag

    async def gone() -> bool:
        return await store.get(GetRequest(key=key)) is None

    await eventually(gone, within=4.0, interval=0.1)
    assert time.time() - written >= 1.5, "expired long before its TTL"
    (bulk,) = await store.bulk_get([GetRequest(key=key)])
    assert bulk.item is None
    if etag and StateFeature.ETAG in store.features():
        with pytest.raises(ETagMismatch):
            await store.set(SetRequest(key=key, value=b"late", etag=etag))


async def test_long_ttl_is_readable_with_its_expiry(store: StateStore, key: str) -> None:
    """Case 17a/17c: expires_at ≈ now + 1h on get and on bulk get."""
    written = time.time()
    await store.set(SetRequest(key=f"{key}-1", value=b'"123"', ttl_seconds=3600))
    await store.set(SetRequest(key=f"{key}-2", value=b'"234"', ttl_seconds=3600))
    item = await _item(store, f"{key}-1")
    assert item.value == b'"123"'
    assert _near(item, written + 3600, 60), item.expires_at
    results = await store.bulk_get([GetRequest(key=f"{key}-1"), GetRequest(key=f"{key}-2")])
    assert [r.item.value if r.item else None for r in results] == [b'"123"', b'"234"']
    for r in results:
        assert r.item is not None
        assert _near(r.item, written + 3600, 60), r


async def test_item_without_ttl_has_no_expiry(store: StateStore, key: str) -> None:
    await store.set(SetRequest(key=key, value=b"v"))
    assert (await _item(store, key)).expires_at is None


@pytest.mark.parametrize("cleared_by", [None, 0], ids=["no-ttl", "ttl-0"])
async def test_overwrite_without_ttl_clears_the_expiry(
    store: StateStore, key: str, cleared_by: int | None
) -> None:
    """Case 17b: a plain overwrite removes an earlier TTL."""
    await store.set(SetRequest(key=key, value=b"v1", ttl_seconds=3600))
    assert (await _item(store, key)).expires_at is not None
    await store.set(SetRequest(key=key, value=b"v2", ttl_seconds=cleared_by))
    item = await _item(store, key)
    assert item.value == b"v2"
    assert item.expires_at is None


async def test_overwrite_with_a_new_ttl_moves_the_expiry(store: StateStore, key: str) -> None:
    written = time.time()
    await store.set(SetRequest(key=key, value=b"v1", ttl_seconds=3600))
    await store.set(SetRequest(key=key, value=b"v2", ttl_seconds=7200))
    item = await _item(store, key)
    assert item.value == b"v2"
    assert _near(item, written + 7200, 60), item.expires_at
