"""The query API (Dapr state conformance case 5, plus sorting, paging and confinement).

Semantics are defined in ``components.state._query``: only JSON values take part; results are
ordered by the sort keys, then by key; ``limit`` pages are non-overlapping, stable and their
union is the whole result; nothing outside ``key_prefix`` is ever returned; values never reach
the backend as query text (an injection attempt matches nothing).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from components.errors import InvalidRequest
from components.state import (
    And,
    Compare,
    Filter,
    GetRequest,
    In,
    Op,
    Or,
    Query,
    QueryableStateStore,
    QueryResult,
    SetRequest,
    SortKey,
    StateFeature,
    StateStore,
)
from tests.conformance._harness import eventually, requires
from tests.conformance.state.harness import enc
from tests.conformance.state.test_crud import plain_values

pytestmark = requires(StateFeature.QUERY_API)

JSON_META = {"contentType": "application/json", "queryIndexName": "qIndx"}


def _q(store: StateStore) -> QueryableStateStore:
    assert isinstance(store, QueryableStateStore)
    return store


async def _seed(store: StateStore, values: dict[str, Any]) -> None:
    await store.bulk_set([SetRequest(key=k, value=enc(v)) for k, v in values.items()])


async def _query(
    store: StateStore, prefix: str, flt: Filter | None = None, sort: tuple[SortKey, ...] = ()
) -> list[str]:
    result = await _q(store).query(
        Query(key_prefix=prefix, filter=flt, sort=sort, metadata=JSON_META)
    )
    assert result.token is None
    return [item.key for item in result.items]


async def test_case_5_filters(store: StateStore, key: str) -> None:
    """Cases 5a-5d, compared positionally (keys and values)."""
    k = key
    values = plain_values(k)
    await _seed(store, values)
    cases: list[tuple[Filter, list[str]]] = [
        (
            Or((Compare(Op.EQ, "message", "dummy"), In("message", (f"test{k}", "dummy")))),
            [f"{k}-struct"],
        ),
        (
            And(
                (
                    Compare(Op.EQ, "message", f"{k}message"),
                    Compare(Op.GTE, "product.value", 10),
                    Compare(Op.LT, "product.value", 20),
                    Compare(Op.NEQ, "status", "INACTIVE"),
                )
            ),
            [f"{k}-struct-operations"],
        ),
        (
            Or(
                (
                    And(
                        (
                            Compare(Op.EQ, "message", f"{k}message"),
                            Compare(Op.GT, "product.value", 11.1),
                            Compare(Op.EQ, "status", "INACTIVE"),
                        )
                    ),
                    And(
                        (
                            Compare(Op.EQ, "message", f"{k}message"),
                            Compare(Op.LTE, "product.value", 0.5),
                            Compare(Op.EQ, "status", "ACTIVE"),
                        )
                    ),
                )
            ),
            [f"{k}-struct-operations-inactive"],
        ),
        (
            Or((Compare(Op.EQ, "message", f"{k}test"), In("message", (f"test{k}", "dummy")))),
            [f"{k}-struct", f"{k}-struct-2"],
        ),
    ]
    for flt, expected in cases:
        result = await _q(store).query(Query(key_prefix=k, filter=flt, metadata=JSON_META))
        assert [item.key for item in result.items] == expected, flt
        for item in result.items:
            assert json.loads(item.value) == values[item.key]
            if StateFeature.ETAG in store.features():
                current = await store.get(GetRequest(key=item.key))
                assert current is not None
                assert item.etag == current.etag


async def test_no_filter_returns_every_json_value_by_key(store: StateStore, key: str) -> None:
    values = plain_values(key)
    await _seed(store, values)
    json_keys = sorted(k for k, v in values.items() if not isinstance(v, bytes))
    assert await _query(store, key) == json_keys


async def test_comparisons_do_not_mix_json_kinds(store: StateStore, key: str) -> None:
    await _seed(
        store,
        {
            f"{key}-true": {"v": True},
            f"{key}-one": {"v": 1},
            f"{key}-one-float": {"v": 1.0},
            f"{key}-text-one": {"v": "1"},
            f"{key}-null": {"v": None},
            f"{key}-nested": {"v": {"w": 1}},
            f"{key}-missing": {"other": 1},
        },
    )
    assert await _query(store, key, Compare(Op.EQ, "v", True)) == [f"{key}-true"]
    assert await _query(store, key, Compare(Op.EQ, "v", 1)) == [f"{key}-one", f"{key}-one-float"]
    assert await _query(store, key, Compare(Op.EQ, "v", "1")) == [f"{key}-text-one"]
    assert await _query(store, key, Compare(Op.EQ, "v", None)) == [f"{key}-null"]
    assert await _query(store, key, Compare(Op.GTE, "v", 0.5)) == [
        f"{key}-one",
        f"{key}-one-float",
    ]
    assert await _query(store, key, Compare(Op.EQ, "v.w", 1)) == [f"{key}-nested"]
    # NEQ needs the path to exist.
    assert f"{key}-missing" not in await _query(store, key, Compare(Op.NEQ, "v", 5))
    assert await _query(store, key, In("v", ("1", True))) == [f"{key}-text-one", f"{key}-true"]


async def test_string_ordering_comparisons(store: StateStore, key: str) -> None:
    await _seed(store, {f"{key}-{n}": {"name": n} for n in ("apple", "banana", "cherry")})
    assert await _query(store, key, Compare(Op.GT, "name", "apricot")) == [
        f"{key}-banana",
        f"{key}-cherry",
    ]
    assert await _query(store, key, Compare(Op.LTE, "name", "banana")) == [
        f"{key}-apple",
        f"{key}-banana",
    ]


async def test_sort_ascending_and_descending(store: StateStore, key: str) -> None:
    k = key
    await _seed(store, plain_values(k))
    flt = Compare(Op.EQ, "message", f"{k}message")
    asc = await _query(store, k, flt, (SortKey("product.value"),))
    assert asc == [f"{k}-struct-operations-inactive", f"{k}-struct-operations"]
    desc = await _query(store, k, flt, (SortKey("product.value", descending=True),))
    assert desc == [f"{k}-struct-operations", f"{k}-struct-operations-inactive"]
    by_status = await _query(store, k, flt, (SortKey("status", descending=True),))
    assert by_status == [f"{k}-struct-operations-inactive", f"{k}-struct-operations"]


def _docs(k: str, count: int = 25) -> dict[str, dict[str, Any]]:
    return {f"{k}-doc{i:02d}": {"n": (i * 7) % count, "group": i % 3} for i in range(count)}


async def test_multi_key_sort_then_key_order(store: StateStore, key: str) -> None:
    docs = _docs(key)
    await _seed(store, docs)
    expected = sorted(docs, key=lambda d: (docs[d]["group"], -docs[d]["n"]))
    sort = (SortKey("group"), SortKey("n", descending=True))
    assert await _query(store, key, None, sort) == expected
    # Ties on every sort key fall back to the key, ascending.
    by_group = sorted(docs, key=lambda d: (-docs[d]["group"], d))
    assert await _query(store, key, None, (SortKey("group", descending=True),)) == by_group


async def _pages(
    store: StateStore, prefix: str, limit: int, sort: tuple[SortKey, ...]
) -> list[QueryResult]:
    pages: list[QueryResult] = []
    token: str | None = None
    while True:
        page = await _q(store).query(Query(key_prefix=prefix, sort=sort, limit=limit, token=token))
        pages.append(page)
        assert len(pages) <= 20, "pagination does not end"
        if page.token is None:
            return pages
        token = page.token


@pytest.mark.parametrize(
    "sort", [(), (SortKey("n", descending=True),)], ids=["by-key", "by-n-desc"]
)
async def test_pages_are_stable_disjoint_and_cover_the_result(
    store: StateStore, key: str, sort: tuple[SortKey, ...]
) -> None:
    docs = _docs(key)
    await _seed(store, docs)
    whole = await _query(store, key, None, sort)
    assert sorted(whole) == sorted(docs)
    pages = await _pages(store, key, 7, sort)
    sizes = [len(p.items) for p in pages]
    assert sizes == [7, 7, 7, 4]
    assert [item.key for p in pages for item in p.items] == whole
    # Paging again from the start gives the same pages.
    again = await _pages(store, key, 7, sort)
    assert [[i.key for i in p.items] for p in again] == [[i.key for i in p.items] for p in pages]


async def test_results_stay_inside_the_key_prefix(store: StateStore, key: str) -> None:
    # Keys that a LIKE without escaping, a case-insensitive match or a plain substring
    # search would wrongly include.
    inside = f"{key}_x%||"
    outside = [f"{key}Ax%||a", f"{key}_X%||a", f"{key}_x||a", f"z{key}_x%||a", f"{key}_x"]
    await _seed(store, {inside + "a": {"m": 1}, inside + "b": {"m": 1}})
    await _seed(store, {k: {"m": 1} for k in outside})
    expected = [inside + "a", inside + "b"]
    assert await _query(store, inside) == expected
    assert await _query(store, inside, Compare(Op.EQ, "m", 1)) == expected


async def test_values_are_never_query_text(store: StateStore, key: str) -> None:
    await _seed(store, {f"{key}-a": {"m": "x"}, f"{key}-b": {"m": "y"}})
    for hostile in ("x' OR '1'='1", 'x" OR "1"="1', "%", "*", "x') OR 1=1 --"):
        assert await _query(store, key, Compare(Op.EQ, "m", hostile)) == [], hostile


async def test_hostile_paths_match_nothing_or_are_rejected(store: StateStore, key: str) -> None:
    await _seed(store, {f"{key}-a": {"m": "x"}, f"{key}-b": {"m": "y"}})
    for path in ("m') OR 1=1 --", "$", "m[0]", "m..x", 'm"', "m OR 1=1"):
        found: list[str] = []
        with contextlib.suppress(InvalidRequest):
            found = await _query(store, key, Compare(Op.NEQ, path, "nothing"))
        assert found == [], path


async def test_garbage_token_is_an_invalid_request(store: StateStore, key: str) -> None:
    with pytest.raises(InvalidRequest):
        await _q(store).query(Query(key_prefix=key, limit=5, token="!!not a token!!"))


@requires(StateFeature.TTL)
async def test_expired_values_are_left_out(store: StateStore, key: str) -> None:
    await store.set(SetRequest(key=f"{key}-short", value=b'{"m":1}', ttl_seconds=1))
    await store.set(SetRequest(key=f"{key}-long", value=b'{"m":1}'))
    assert await _query(store, key) == [f"{key}-long", f"{key}-short"]

    async def expired() -> bool:
        return await store.get(GetRequest(key=f"{key}-short")) is None

    await eventually(expired, within=3.0)
    assert await _query(store, key, Compare(Op.EQ, "m", 1)) == [f"{key}-long"]
