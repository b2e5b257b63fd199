"""Transactions (Dapr state conformance cases 10-12, plus atomicity).

``transact`` applies its operations in list order, each seeing the ones before it, and is
atomic: when any operation fails (ETag mismatch, first-write conflict, malformed ETag), the
error propagates and none of the operations is visible afterwards.
"""

from __future__ import annotations

import time

import pytest

from components.errors import ETagInvalid, ETagMismatch
from components.state import (
    Concurrency,
    DeleteRequest,
    GetRequest,
    SetRequest,
    StateFeature,
    StateStore,
    TransactionalStateStore,
    TransactionOp,
)
from tests.conformance._harness import requires
from tests.conformance.state.harness import StoreCase, enc

pytestmark = requires(StateFeature.TRANSACTIONAL)

PARTITION = {"partitionKey": "myPartition"}


def _tx(store: StateStore) -> TransactionalStateStore:
    assert isinstance(store, TransactionalStateStore)
    return store


async def _value(store: StateStore, key: str) -> bytes | None:
    item = await store.get(GetRequest(key=key))
    return None if item is None else item.value


def _upsert(key: str, value: object) -> SetRequest:
    return SetRequest(key=key, value=enc(value), metadata=PARTITION)


def _delete(key: str) -> DeleteRequest:
    return DeleteRequest(key=key, metadata=PARTITION)


async def test_groups_apply_one_after_another(store: StateStore, key: str) -> None:
    """Case 10: four transactions; after each, its upserts read back and its deletes are gone."""
    k = key
    groups: list[list[TransactionOp]] = [
        [
            _upsert(f"{k}-trx-int", 123),
            _upsert(f"{k}-trx-bool", True),
            _upsert(f"{k}-trx-bytes", b"\x01"),
            _upsert(f"{k}-trx-string", "hello world"),
            _upsert(f"{k}-trx-to-be-deleted", "to be deleted"),
        ],
        [_upsert(f"{k}-trx-struct", {"message": "test"}), _delete(f"{k}-trx-to-be-deleted")],
        [_upsert(f"{k}-trx-to-be-deleted-too", "to be deleted too")],
        [_delete(f"{k}-trx-to-be-deleted-too")],
    ]
    for ops in groups:
        await _tx(store).transact(ops)
        for op in ops:
            expected = op.value if isinstance(op, SetRequest) else None
            assert await _value(store, op.key) == expected, op.key
    # Earlier groups' writes survive later groups.
    assert await _value(store, f"{k}-trx-int") == b"123"
    assert await _value(store, f"{k}-trx-to-be-deleted") is None


async def test_deleting_a_missing_key_is_fine(store: StateStore, key: str) -> None:
    """Case 11."""
    await _tx(store).transact([_delete(f"{key}-non-existent-key")])
    assert await _value(store, f"{key}-non-existent-key") is None


async def test_same_key_operations_apply_in_order(store: StateStore, key: str) -> None:
    """Case 12."""
    k1, k2, k3 = (f"{key}-key{i}" for i in (1, 2, 3))
    await store.set(SetRequest(key=k1, value=enc("value1")))
    await store.delete(DeleteRequest(key=k2))
    await store.delete(DeleteRequest(key=k3))
    await _tx(store).transact(
        [_delete(k1), _upsert(k2, "value2"), _delete(k2), _upsert(k3, "value3")]
    )
    assert await _value(store, k1) is None
    assert await _value(store, k2) is None
    assert await _value(store, k3) == b'"value3"'


async def test_last_write_in_a_transaction_wins(store: StateStore, key: str) -> None:
    await _tx(store).transact([_upsert(key, "a"), _upsert(key, "b"), _upsert(key, "c")])
    assert await _value(store, key) == enc("c")


async def test_empty_transaction_is_fine(store: StateStore) -> None:
    await _tx(store).transact([])


@requires(StateFeature.ETAG)
async def test_a_failing_etag_rolls_back_the_earlier_operations(
    store: StateStore, case: StoreCase, key: str
) -> None:
    first, second, third = f"{key}-1", f"{key}-2", f"{key}-3"
    await store.set(SetRequest(key=first, value=b"old-1"))
    await store.set(SetRequest(key=second, value=b"old-2"))
    before = await store.get(GetRequest(key=first))
    assert before is not None
    with pytest.raises(ETagMismatch):
        await _tx(store).transact(
            [
                SetRequest(key=first, value=b"new-1"),
                SetRequest(key=second, value=b"new-2", etag=case.options.bad_etag),
                SetRequest(key=third, value=b"new-3"),
            ]
        )
    after = await store.get(GetRequest(key=first))
    assert after is not None
    assert after.value == b"old-1"
    assert after.etag == before.etag
    assert await _value(store, second) == b"old-2"
    assert await _value(store, third) is None


@requires(StateFeature.ETAG)
async def test_a_failing_delete_etag_rolls_back_earlier_deletes(
    store: StateStore, case: StoreCase, key: str
) -> None:
    await store.set(SetRequest(key=f"{key}-a", value=b"a"))
    await store.set(SetRequest(key=f"{key}-b", value=b"b"))
    with pytest.raises(ETagMismatch):
        await _tx(store).transact(
            [
                DeleteRequest(key=f"{key}-a"),
                DeleteRequest(key=f"{key}-b", etag=case.options.bad_etag),
            ]
        )
    assert await _value(store, f"{key}-a") == b"a"
    assert await _value(store, f"{key}-b") == b"b"


@requires(StateFeature.ETAG)
async def test_malformed_etag_fails_the_whole_transaction(
    store: StateStore, case: StoreCase, key: str
) -> None:
    if case.options.malformed_etag is None:
        pytest.skip("the matrix gives no malformedEtag for this store")
    await store.set(SetRequest(key=f"{key}-b", value=b"b"))
    with pytest.raises(ETagInvalid):
        await _tx(store).transact(
            [
                SetRequest(key=f"{key}-a", value=b"a"),
                SetRequest(key=f"{key}-b", value=b"x", etag=case.options.malformed_etag),
            ]
        )
    assert await _value(store, f"{key}-a") is None
    assert await _value(store, f"{key}-b") == b"b"


async def test_a_first_write_conflict_rolls_back(store: StateStore, key: str) -> None:
    await store.set(SetRequest(key=f"{key}-taken", value=b"taken"))
    with pytest.raises(ETagMismatch):
        await _tx(store).transact(
            [
                SetRequest(key=f"{key}-fresh", value=b"fresh"),
                SetRequest(key=f"{key}-taken", value=b"mine", concurrency=Concurrency.FIRST_WRITE),
            ]
        )
    assert await _value(store, f"{key}-fresh") is None
    assert await _value(store, f"{key}-taken") == b"taken"


@requires(StateFeature.ETAG)
async def test_current_etags_commit_with_new_etags(store: StateStore, key: str) -> None:
    await store.set(SetRequest(key=f"{key}-a", value=b"a1"))
    await store.set(SetRequest(key=f"{key}-b", value=b"b1"))
    a = await store.get(GetRequest(key=f"{key}-a"))
    b = await store.get(GetRequest(key=f"{key}-b"))
    assert a is not None
    assert b is not None
    await _tx(store).transact(
        [
            SetRequest(key=a.key, value=b"a2", etag=a.etag),
            DeleteRequest(key=b.key, etag=b.etag),
        ]
    )
    a2 = await store.get(GetRequest(key=a.key))
    assert a2 is not None
    assert a2.value == b"a2"
    assert a2.etag not in (None, a.etag)
    assert await _value(store, b.key) is None


@requires(StateFeature.ETAG)
async def test_each_operation_sees_the_ones_before_it(store: StateStore, key: str) -> None:
    """In order means in order: an earlier write in the transaction makes an ETag stale."""
    await store.set(SetRequest(key=key, value=b"v1"))
    before = await store.get(GetRequest(key=key))
    assert before is not None
    with pytest.raises(ETagMismatch):
        await _tx(store).transact(
            [SetRequest(key=key, value=b"v2"), DeleteRequest(key=key, etag=before.etag)]
        )
    assert await _value(store, key) == b"v1"


@requires(StateFeature.TTL)
async def test_ttl_inside_a_transaction(store: StateStore, key: str) -> None:
    started = time.time()
    await _tx(store).transact([SetRequest(key=key, value=b"v", ttl_seconds=3600)])
    item = await store.get(GetRequest(key=key))
    assert item is not None
    assert item.expires_at is not None
    assert abs(item.expires_at.timestamp() - (started + 3600)) < 60
