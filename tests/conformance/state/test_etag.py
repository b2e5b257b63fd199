"""Optimistic concurrency (Dapr state conformance cases 14 and 15).

ETags: every write gives a new ETag; a write or delete with a well-formed ETag that is not
current raises ``ETagMismatch`` (also for a missing key), one the store can never produce raises
``ETagInvalid``; bulk set/delete try every item and report exactly the failing ones in a
``BulkError``. First-write without an ETag succeeds only for a missing key; an empty ETag is the
same as none.
"""

from __future__ import annotations

import pytest

from components.errors import BulkError, ETagInvalid, ETagMismatch
from components.state import (
    Concurrency,
    Consistency,
    DeleteRequest,
    GetRequest,
    SetRequest,
    StateFeature,
    StateItem,
    StateStore,
)
from tests.conformance._harness import requires
from tests.conformance.state.harness import StoreCase, enc

FIRST = enc("first-value")
SECOND = enc("second-value")
THIRD = enc("third-value")


async def _item(store: StateStore, key: str) -> StateItem:
    item = await store.get(GetRequest(key=key))
    assert item is not None, key
    return item


def _present(item: StateItem | None) -> StateItem:
    assert item is not None
    assert item.etag
    return item


async def _bulk(store: StateStore, keys: list[str]) -> dict[str, StateItem | None]:
    results = await store.bulk_get([GetRequest(key=k) for k in keys])
    assert [r.key for r in results] == keys
    assert all(r.error is None for r in results), results
    return {r.key: r.item for r in results}


@requires(StateFeature.ETAG)
async def test_etag_sequence(store: StateStore, case: StoreCase, key: str) -> None:
    """Case 14, step by step."""
    e1, e2, e3, e4 = (f"{key}-etag{i}" for i in range(1, 5))
    bad = case.options.bad_etag

    # 1-2. Bulk set without ETags; every item then has a non-empty ETag.
    await store.bulk_set([SetRequest(key=k, value=FIRST) for k in (e1, e2, e3, e4)])
    first1 = _present(await store.get(GetRequest(key=e1)))
    assert first1.value == FIRST
    firsts = await _bulk(store, [e2, e3, e4])
    etag2, etag3, etag4 = (_present(firsts[k]).etag for k in (e2, e3, e4))
    assert all(_present(firsts[k]).value == FIRST for k in (e2, e3, e4))

    # 3. A well-formed but stale ETag is a mismatch, and changes nothing.
    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(key=e1, value=SECOND, etag=bad))
    assert (await _item(store, e1)).value == FIRST

    # 4. The current ETag works, and the write gives a new ETag.
    await store.set(SetRequest(key=e1, value=SECOND, etag=first1.etag))
    second1 = _present(await store.get(GetRequest(key=e1)))
    assert second1.value == SECOND
    assert second1.etag != first1.etag

    # 5. Bulk set is per item: exactly E2 fails (mismatch), E3 is written.
    with pytest.raises(BulkError) as failed:
        await store.bulk_set(
            [
                SetRequest(key=e2, value=SECOND, etag=bad),
                SetRequest(key=e3, value=SECOND, etag=etag3),
            ]
        )
    assert set(failed.value.errors) == {e2}
    assert isinstance(failed.value.errors[e2], ETagMismatch)
    after5 = await _bulk(store, [e2, e3])
    assert _present(after5[e2]).value == FIRST
    assert _present(after5[e2]).etag == etag2
    assert _present(after5[e3]).value == SECOND
    assert _present(after5[e3]).etag != etag3
    etag3 = _present(after5[e3]).etag

    # 6. Bulk set with the current ETags.
    await store.bulk_set(
        [
            SetRequest(key=e2, value=THIRD, etag=etag2),
            SetRequest(key=e3, value=THIRD, etag=etag3),
        ]
    )
    after6 = await _bulk(store, [e2, e3])
    assert _present(after6[e2]).value == THIRD
    assert _present(after6[e3]).value == THIRD
    etag2, etag3 = _present(after6[e2]).etag, _present(after6[e3]).etag

    # 7. Delete with a stale ETag fails and keeps the item.
    with pytest.raises(ETagMismatch):
        await store.delete(DeleteRequest(key=e1, etag=bad))
    assert (await _item(store, e1)).value == SECOND

    # 8. Delete with the current ETag.
    await store.delete(DeleteRequest(key=e1, etag=second1.etag))
    assert await store.get(GetRequest(key=e1)) is None

    # 9. Bulk delete is per item: exactly E3 fails (mismatch); E2 is gone.
    with pytest.raises(BulkError) as failed:
        await store.bulk_delete(
            [DeleteRequest(key=e2, etag=etag2), DeleteRequest(key=e3, etag=bad)]
        )
    assert set(failed.value.errors) == {e3}
    assert isinstance(failed.value.errors[e3], ETagMismatch)
    after9 = await _bulk(store, [e2, e3])
    assert after9[e2] is None
    assert _present(after9[e3]).value == THIRD
    assert _present(after9[e3]).etag == etag3

    # 10. Bulk delete with current ETags (E4's from step 2).
    await store.bulk_delete([DeleteRequest(key=e3, etag=etag3), DeleteRequest(key=e4, etag=etag4)])
    assert await _bulk(store, [e3, e4]) == {e3: None, e4: None}


@requires(StateFeature.ETAG)
async def test_every_write_gives_a_new_etag_and_reads_agree(store: StateStore, key: str) -> None:
    seen: set[str] = set()
    for value in (b"a", b"a", b"b"):  # also rewriting the same value
        await store.set(SetRequest(key=key, value=value))
        item = await _item(store, key)
        assert item.etag
        assert item.etag not in seen
        seen.add(item.etag)
        (bulk,) = await store.bulk_get([GetRequest(key=key)])
        assert bulk.item is not None
        assert bulk.item.etag == item.etag


@requires(StateFeature.ETAG)
async def test_etag_on_a_missing_key_is_a_mismatch(
    store: StateStore, case: StoreCase, key: str
) -> None:
    with pytest.raises(ETagMismatch):
        await store.set(SetRequest(key=key, value=b"v", etag=case.options.bad_etag))
    assert await store.get(GetRequest(key=key)) is None
    with pytest.raises(ETagMismatch):
        await store.delete(DeleteRequest(key=key, etag=case.options.bad_etag))


@requires(StateFeature.ETAG)
async def test_malformed_etag_is_invalid_not_mismatch(
    store: StateStore, case: StoreCase, key: str
) -> None:
    if case.options.malformed_etag is None:
        pytest.skip("the matrix gives no malformedEtag for this store")
    await store.set(SetRequest(key=key, value=b"kept"))
    with pytest.raises(ETagInvalid):
        await store.set(SetRequest(key=key, value=b"changed", etag=case.options.malformed_etag))
    with pytest.raises(ETagInvalid):
        await store.delete(DeleteRequest(key=key, etag=case.options.malformed_etag))
    assert (await _item(store, key)).value == b"kept"


@pytest.mark.parametrize("etag", [None, ""], ids=["no-etag", "empty-etag"])
async def test_first_write_without_etag(store: StateStore, key: str, etag: str | None) -> None:
    """Case 15a: an empty ETag is the same as none."""

    def first_write(value: bytes) -> SetRequest:
        return SetRequest(
            key=key,
            value=value,
            etag=etag,
            concurrency=Concurrency.FIRST_WRITE,
            consistency=Consistency.STRONG,
        )

    await store.delete(DeleteRequest(key=key, etag=etag))
    await store.set(first_write(b"testValue1"))
    assert (await _item(store, key)).value == b"testValue1"
    with pytest.raises(ETagMismatch):
        await store.set(first_write(b"testValue2"))
    assert (await _item(store, key)).value == b"testValue1"


async def test_last_write_with_empty_etag_overwrites(store: StateStore, key: str) -> None:
    await store.set(SetRequest(key=key, value=b"one"))
    await store.set(SetRequest(key=key, value=b"two", etag=""))
    assert (await _item(store, key)).value == b"two"


@requires(StateFeature.ETAG)
async def test_first_write_with_etag(store: StateStore, key: str) -> None:
    """Case 15b: with an ETag, first-write needs the current one."""
    await store.set(SetRequest(key=key, value=b"testValue1"))
    original = (await _item(store, key)).etag
    assert original
    await store.set(
        SetRequest(key=key, value=b"testValue2", etag=original, concurrency=Concurrency.FIRST_WRITE)
    )
    updated = await _item(store, key)
    assert updated.value == b"testValue2"
    assert updated.etag != original
    with pytest.raises(ETagMismatch):
        await store.set(
            SetRequest(
                key=key, value=b"testValue3", etag=original, concurrency=Concurrency.FIRST_WRITE
            )
        )
    assert (await _item(store, key)).value == b"testValue2"
