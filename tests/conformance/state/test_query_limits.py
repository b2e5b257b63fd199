"""Query size limits and Dapr's decimal page tokens, the same on every queryable store.

A query at the shared limits (``components.state._query``: filter depth and terms, path parts,
sort keys, page limit) runs; one past them raises ``InvalidRequest`` before the backend sees it
(SQL parsers and parameter counts have smaller limits of their own: past them, a caller's query
used to become a 500). Page tokens: the store's own opaque token and Dapr's decimal offset
(``"3"``, what the Dapr SDK examples send) both page the same result.
"""

from __future__ import annotations

import pytest

from components.errors import InvalidRequest
from components.state import (
    And,
    Compare,
    Filter,
    In,
    Op,
    Or,
    Query,
    QueryableStateStore,
    SetRequest,
    SortKey,
    StateFeature,
    StateStore,
)
from components.state._query import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_TERMS,
    MAX_PAGE_LIMIT,
    MAX_PATH_SEGMENTS,
    MAX_SORT_KEYS,
)
from tests.conformance._harness import requires
from tests.conformance.state.harness import enc

pytestmark = requires(StateFeature.QUERY_API)


def _q(store: StateStore) -> QueryableStateStore:
    assert isinstance(store, QueryableStateStore)
    return store


def _nested(depth: int) -> Filter:
    f: Filter = Compare(Op.EQ, "n", 1)
    for i in range(depth - 1):
        f = And((f,)) if i % 2 else Or((f,))
    return f


async def _keys(store: StateStore, q: Query) -> list[str]:
    return [item.key for item in (await _q(store).query(q)).items]


async def test_queries_at_the_limits_run(store: StateStore, key: str) -> None:
    await store.bulk_set([SetRequest(key=f"{key}-{i}", value=enc({"n": i})) for i in range(3)])
    deep = _nested(MAX_FILTER_DEPTH)
    assert await _keys(store, Query(key_prefix=key, filter=deep)) == [f"{key}-1"]
    wide = Or(tuple(Compare(Op.EQ, "n", i) for i in range(MAX_FILTER_TERMS)))
    assert len(await _keys(store, Query(key_prefix=key, filter=wide))) == 3
    many = In("n", tuple(range(MAX_FILTER_TERMS)))
    assert len(await _keys(store, Query(key_prefix=key, filter=many))) == 3
    long_path = ".".join(["a"] * MAX_PATH_SEGMENTS)
    assert await _keys(store, Query(key_prefix=key, filter=Compare(Op.EQ, long_path, 1))) == []
    sort = tuple(SortKey(long_path) for _ in range(MAX_SORT_KEYS))
    assert len(await _keys(store, Query(key_prefix=key, sort=sort, limit=MAX_PAGE_LIMIT))) == 3


@pytest.mark.parametrize(
    "query",
    [
        Query(key_prefix="", filter=_nested(MAX_FILTER_DEPTH + 1)),
        Query(key_prefix="", filter=_nested(3000)),
        Query(
            key_prefix="",
            filter=Or(tuple(Compare(Op.EQ, "n", i) for i in range(MAX_FILTER_TERMS + 1))),
        ),
        Query(key_prefix="", filter=In("n", tuple(range(MAX_FILTER_TERMS + 1)))),
        Query(key_prefix="", filter=Compare(Op.EQ, ".".join(["a"] * (MAX_PATH_SEGMENTS + 1)), 1)),
        Query(key_prefix="", sort=tuple(SortKey("a") for _ in range(MAX_SORT_KEYS + 1))),
        Query(key_prefix="", limit=MAX_PAGE_LIMIT + 1),
        Query(key_prefix="", limit=2**63),
        Query(key_prefix="", limit=0),
        Query(key_prefix="", filter=Compare(Op.GT, "n", 10**400)),
        Query(key_prefix="", filter=Compare(Op.EQ, "n", float("inf"))),
        Query(key_prefix="", limit=1, token="9" * 40),
        Query(key_prefix="", limit=1, token="-1"),
        Query(key_prefix="", limit=1, token="x" * 10_000),
    ],
    ids=[
        "depth",
        "depth-3000",
        "terms",
        "in-values",
        "path-parts",
        "sort-keys",
        "limit",
        "limit-2**63",
        "limit-0",
        "huge-int-operand",
        "inf-operand",
        "huge-decimal-token",
        "negative-token",
        "long-token",
    ],
)
async def test_queries_past_the_limits_are_invalid_requests(
    store: StateStore, query: Query
) -> None:
    with pytest.raises(InvalidRequest):
        await _q(store).query(query)


async def test_decimal_and_opaque_tokens_page_alike(store: StateStore, key: str) -> None:
    await store.bulk_set([SetRequest(key=f"{key}-{i}", value=enc({"n": i})) for i in range(5)])
    everything = await _keys(store, Query(key_prefix=key))
    first = await _q(store).query(Query(key_prefix=key, limit=3))
    assert first.token is not None
    by_opaque = await _keys(store, Query(key_prefix=key, limit=3, token=first.token))
    by_decimal = await _keys(store, Query(key_prefix=key, limit=3, token="3"))
    assert by_opaque == by_decimal == everything[3:]
    assert await _keys(store, Query(key_prefix=key, limit=2, token="1")) == everything[1:3]
    assert await _keys(store, Query(key_prefix=key, limit=2, token="0")) == everything[:2]
    assert await _keys(store, Query(key_prefix=key, limit=2, token="99")) == []
