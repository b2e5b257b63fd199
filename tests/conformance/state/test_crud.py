"""Basic state operations every store supports (Dapr state conformance cases 2-4 and 6-9).

Values are opaque bytes: every kind of the Dapr fixture table (JSON numbers, bools, strings,
objects, raw and non-UTF-8 bytes, empty values) must come back byte for byte. Deleting a
missing key is not an error; bulk get reports missing keys in place; bulk set/delete apply to
exactly the keys they name.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from components.state import DeleteRequest, GetRequest, SetRequest, StateStore
from tests.conformance.state.harness import enc

# Protobuf encoding of a message whose int32 field 1 is -1: not UTF-8 (Dapr case 4).
PROTO_BYTES = bytes.fromhex("08ffffffffffffffffff01")


def plain_values(k: str) -> dict[str, Any]:
    """The 12 single-key scenarios of the Dapr fixture table, plus raw and empty bytes."""
    return {
        f"{k}-int": 123,
        f"{k}-bool": True,
        f"{k}-bytes": b"\x01",
        f"{k}-string-with-json": '{"a":"b"}',
        f"{k}-string": "hello world",
        f"{k}-empty-string": "",
        f"{k}-struct": {"message": f"test{k}"},
        f"{k}-struct-operations": {
            "product": {"value": 15},
            "status": "ACTIVE",
            "message": f"{k}message",
        },
        f"{k}-struct-operations-inactive": {
            "product": {"value": 12},
            "status": "INACTIVE",
            "message": f"{k}message",
        },
        f"{k}-struct-2": {"message": f"{k}test"},
        f"{k}-struct-with-int": {"message": 42},
        f"{k}-to-be-deleted": "to be deleted",
        f"{k}-proto": PROTO_BYTES,
        f"{k}-empty-bytes": b"",
    }


def bulk_values(k: str) -> dict[str, Any]:
    return {
        f"{k}-bulk-int": 123,
        f"{k}-bulk-bool": True,
        f"{k}-bulk-bytes": b"\x01",
        f"{k}-bulk-string": "hello world",
        f"{k}-bulk-struct": {"message": "test"},
        f"{k}-bulk-to-be-deleted": "to be deleted",
        f"{k}-bulk-to-be-deleted-too": "to be deleted too",
    }


async def _value(store: StateStore, key: str) -> bytes | None:
    item = await store.get(GetRequest(key=key))
    if item is None:
        return None
    assert item.key == key
    assert type(item.value) is bytes
    return item.value


async def test_every_value_kind_round_trips_byte_for_byte(store: StateStore, key: str) -> None:
    values = plain_values(key)
    for k, v in values.items():
        content_type = "application/json" if isinstance(v, dict) else None
        await store.set(SetRequest(key=k, value=enc(v), content_type=content_type))
    for k, v in values.items():
        assert await _value(store, k) == enc(v), k


async def test_non_utf8_bytes_round_trip(store: StateStore, key: str) -> None:
    await store.set(SetRequest(key=key, value=PROTO_BYTES))
    assert await _value(store, key) == PROTO_BYTES


async def test_empty_values_are_values_not_missing_keys(store: StateStore, key: str) -> None:
    await store.set(SetRequest(key=f"{key}-empty", value=b""))
    await store.set(SetRequest(key=f"{key}-empty-json-string", value=b'""'))
    assert await _value(store, f"{key}-empty") == b""
    assert await _value(store, f"{key}-empty-json-string") == b'""'


async def test_large_value_round_trips(store: StateStore, key: str) -> None:
    value = os.urandom(256 * 1024)
    await store.set(SetRequest(key=key, value=value))
    assert await _value(store, key) == value


@pytest.mark.parametrize(
    "suffix",
    ["||app||nested", " with spaces ", "ключ-🔑", "50%_off\\[x]*?", "'; DROP TABLE state; --"],
)
async def test_unusual_keys_round_trip_and_stay_distinct(
    store: StateStore, key: str, suffix: str
) -> None:
    await store.set(SetRequest(key=key + suffix, value=b"odd"))
    await store.set(SetRequest(key=key, value=b"plain"))
    assert await _value(store, key + suffix) == b"odd"
    assert await _value(store, key) == b"plain"


async def test_get_missing_key_is_none(store: StateStore, key: str) -> None:
    assert await store.get(GetRequest(key=f"{key}-never-written")) is None


async def test_set_overwrites(store: StateStore, key: str) -> None:
    await store.set(SetRequest(key=key, value=b"first"))
    await store.set(SetRequest(key=key, value=b"second"))
    assert await _value(store, key) == b"second"


async def test_delete_removes_only_that_key(store: StateStore, key: str) -> None:
    values = plain_values(key)
    for k, v in values.items():
        await store.set(SetRequest(key=k, value=enc(v)))
    await store.delete(DeleteRequest(key=f"{key}-to-be-deleted"))
    assert await store.get(GetRequest(key=f"{key}-to-be-deleted")) is None
    assert await _value(store, f"{key}-string") == enc("hello world")


async def test_delete_missing_key_is_not_an_error(store: StateStore, key: str) -> None:
    # Case 6: the transaction scenarios' keys were never written.
    for k in (f"{key}-trx-to-be-deleted", f"{key}-trx-to-be-deleted-too"):
        await store.delete(DeleteRequest(key=k))
        assert await store.get(GetRequest(key=k)) is None


async def test_bulk_set_then_get_each(store: StateStore, key: str) -> None:
    values = bulk_values(key)
    await store.bulk_set([SetRequest(key=k, value=enc(v)) for k, v in values.items()])
    for k, v in values.items():
        assert await _value(store, k) == enc(v), k


async def test_bulk_get_returns_every_key_in_request_order(store: StateStore, key: str) -> None:
    values = bulk_values(key)
    await store.bulk_set([SetRequest(key=k, value=enc(v)) for k, v in values.items()])
    order = sorted(values, reverse=True)  # not the write order
    results = await store.bulk_get([GetRequest(key=k) for k in order])
    assert [r.key for r in results] == order
    for r in results:
        assert r.error is None, r
        assert r.item is not None, r
        assert r.item.key == r.key
        assert r.item.value == enc(values[r.key])


async def test_bulk_get_reports_a_missing_key_in_place(store: StateStore, key: str) -> None:
    await store.set(SetRequest(key=f"{key}-bulk-int", value=b"123"))
    results = await store.bulk_get(
        [GetRequest(key=f"{key}-doesnotexist"), GetRequest(key=f"{key}-bulk-int")]
    )
    assert len(results) == 2
    missing, present = results
    assert missing.key == f"{key}-doesnotexist"
    assert missing.item is None
    assert missing.error is None
    assert present.key == f"{key}-bulk-int"
    assert present.item is not None
    assert present.item.value == b"123"


async def test_bulk_get_of_nothing_is_empty(store: StateStore) -> None:
    assert await store.bulk_get([]) == []


async def test_bulk_delete_deletes_exactly_the_named_keys(store: StateStore, key: str) -> None:
    values = bulk_values(key)
    await store.bulk_set([SetRequest(key=k, value=enc(v)) for k, v in values.items()])
    doomed = [f"{key}-bulk-to-be-deleted", f"{key}-bulk-to-be-deleted-too"]
    await store.bulk_delete([DeleteRequest(key=k) for k in doomed])
    for k in values:
        expected = None if k in doomed else enc(values[k])
        assert await _value(store, k) == expected, k


async def test_bulk_delete_of_missing_keys_is_not_an_error(store: StateStore, key: str) -> None:
    await store.bulk_delete([DeleteRequest(key=f"{key}-a"), DeleteRequest(key=f"{key}-b")])
    assert await store.get(GetRequest(key=f"{key}-a")) is None
