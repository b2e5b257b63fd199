"""Key listing (Tandem's LIST_KEYS; the counterpart of Dapr's keyslike case 19).

``list_keys`` returns the keys that start with ``prefix`` exactly (case-sensitive, no
wildcards), in ascending order, at most ``limit`` per page; following the tokens visits every
key once. A token stays usable after the data changes, expired keys are left out, and a token
that was never issued is an ``InvalidRequest``.

A store whose matrix entry says ``orderedKeys: false`` (Redis, which lists with SCAN) returns
each page in no particular order and may repeat a key on a later page; for it the cases compare
the set of listed keys, and everything else (full pages, prefixes, tokens, expiry) still holds.
"""

from __future__ import annotations

import pytest

from components.errors import InvalidRequest
from components.state import (
    DeleteRequest,
    GetRequest,
    KeyLister,
    KeysPage,
    ListKeysRequest,
    SetRequest,
    StateFeature,
    StateStore,
)
from tests.conformance._harness import eventually, requires
from tests.conformance.state.harness import StoreCase

pytestmark = requires(StateFeature.LIST_KEYS)


def _lister(store: StateStore) -> KeyLister:
    assert isinstance(store, KeyLister)
    return store


async def _write(store: StateStore, keys: list[str]) -> None:
    await store.bulk_set([SetRequest(key=k, value=b"v") for k in keys])


async def _pages(store: StateStore, prefix: str, limit: int) -> list[KeysPage]:
    pages: list[KeysPage] = []
    token: str | None = None
    while True:
        page = await _lister(store).list_keys(
            ListKeysRequest(prefix=prefix, limit=limit, token=token)
        )
        pages.append(page)
        assert len(page.keys) <= limit
        assert len(pages) <= 100, "pagination does not end"
        if page.token is None:
            return pages
        token = page.token


async def _all(store: StateStore, prefix: str, limit: int = 1000) -> list[str]:
    return [k for page in await _pages(store, prefix, limit) for k in page.keys]


def _got(case: StoreCase, listed: list[str]) -> list[str]:
    """``listed`` as is; sorted and without repeats for a store that lists in no order."""
    return listed if case.options.ordered_keys else sorted(set(listed))


async def test_prefix_is_matched_exactly(store: StateStore, case: StoreCase, key: str) -> None:
    inside = [f"{key}/a", f"{key}/a/x", f"{key}/a1", f"{key}/a||b", f"{key}/a%", f"{key}/a_"]
    # Wrongly included by a case-insensitive match, unescaped LIKE wildcards or a substring
    # search.
    outside = [f"{key}/A1", f"{key}/b1", f"{key}/", f"x{key}/a1", f"{key}/ba"]
    await _write(store, inside + outside)
    assert _got(case, await _all(store, f"{key}/a")) == sorted(inside)
    assert _got(case, await _all(store, f"{key}/a%")) == [f"{key}/a%"]
    assert _got(case, await _all(store, f"{key}/a_")) == [f"{key}/a_"]


async def test_pages_visit_every_key_once_in_ascending_order(
    store: StateStore, case: StoreCase, key: str
) -> None:
    keys = [f"{key}-{i:03d}" for i in range(23)] + [f"{key}-é", f"{key}-Z", f"{key}-z"]
    await _write(store, keys)
    pages = await _pages(store, key, 5)
    listed = [k for page in pages for k in page.keys]
    assert _got(case, listed) == sorted(keys)
    assert [len(p.keys) for p in pages[:-1]] == [5] * (len(pages) - 1)


async def test_one_page_when_everything_fits(store: StateStore, case: StoreCase, key: str) -> None:
    keys = [f"{key}-{i}" for i in range(4)]
    await _write(store, keys)
    page = await _lister(store).list_keys(ListKeysRequest(prefix=key, limit=10))
    assert _got(case, list(page.keys)) == keys
    assert page.token is None


async def test_a_stale_token_continues_after_writes(
    store: StateStore, case: StoreCase, key: str
) -> None:
    """Case 19g: the token still works after the keys around it change."""
    k = [f"{key}-key{i}" for i in range(6)]
    await _write(store, k[1:5])
    first = await _lister(store).list_keys(ListKeysRequest(prefix=key, limit=3))
    assert len(set(first.keys)) == 3
    assert set(first.keys) <= set(k[1:5])
    if case.options.ordered_keys:
        assert list(first.keys) == k[1:4]
    assert first.token is not None
    await store.bulk_delete([DeleteRequest(key=k[1]), DeleteRequest(key=k[3])])
    await _write(store, [k[5], k[0]])
    rest: list[str] = []
    token: str | None = first.token
    while token is not None:
        page = await _lister(store).list_keys(ListKeysRequest(prefix=key, limit=3, token=token))
        rest.extend(page.keys)
        token = page.token
    assert {k[2], k[4]} - set(first.keys) <= set(rest)  # present all along, not listed yet
    assert k[1] not in rest
    assert k[3] not in rest
    if case.options.ordered_keys:
        assert rest == sorted(rest)
    assert _got(case, await _all(store, key)) == [k[0], k[2], k[4], k[5]]


async def test_garbage_token_is_an_invalid_request(store: StateStore, key: str) -> None:
    with pytest.raises(InvalidRequest):
        await _lister(store).list_keys(ListKeysRequest(prefix=key, token="!!not a token!!"))


@requires(StateFeature.TTL)
async def test_expired_keys_are_left_out(store: StateStore, key: str) -> None:
    """Case 19h."""
    await store.set(SetRequest(key=f"{key}-1", value=b"1", ttl_seconds=1))
    await store.set(SetRequest(key=f"{key}-2", value=b"2"))
    await store.set(SetRequest(key=f"{key}-3", value=b"3", ttl_seconds=1))

    async def expired() -> bool:
        results = await store.bulk_get([GetRequest(key=f"{key}-1"), GetRequest(key=f"{key}-3")])
        return all(r.item is None for r in results)

    await eventually(expired, within=3.0)
    assert await _all(store, key) == [f"{key}-2"]
