"""Coherence between what a store declares and what it does.

- ``features()`` equals the matrix's expected list exactly (so a store can neither lose nor
  silently gain a feature);
- TRANSACTIONAL, QUERY_API, LIST_KEYS: declared => the capability protocol is implemented;
  undeclared => it is not, or calling it raises ``NotSupported`` (the contract in ``_api``);
- ETAG, TTL undeclared => a request using them raises ``NotSupported``;
- the component's ``info.type`` is the manifest's ``spec.type``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yaml

from components.errors import NotSupported
from components.state import (
    DeleteRequest,
    KeyLister,
    ListKeysRequest,
    Query,
    QueryableStateStore,
    SetRequest,
    StateFeature,
    StateStore,
    TransactionalStateStore,
)
from tests.conformance.state.harness import StoreCase

CAPABILITIES: dict[StateFeature, tuple[type[Any], Callable[[Any, str], Awaitable[object]]]] = {
    StateFeature.TRANSACTIONAL: (
        TransactionalStateStore,
        lambda s, k: s.transact([SetRequest(key=k, value=b"v")]),
    ),
    StateFeature.QUERY_API: (QueryableStateStore, lambda s, k: s.query(Query(key_prefix=k))),
    StateFeature.LIST_KEYS: (KeyLister, lambda s, k: s.list_keys(ListKeysRequest(prefix=k))),
}


async def test_declared_features_are_exactly_the_expected_ones(
    store: StateStore, case: StoreCase
) -> None:
    declared = store.features()
    assert isinstance(declared, frozenset)
    assert all(isinstance(f, StateFeature) for f in declared)
    assert declared == case.features


def test_component_type_matches_the_manifest(store: StateStore, case: StoreCase) -> None:
    manifest = yaml.safe_load(case.manifest.read_text(encoding="utf-8"))
    assert type(store).info.type == manifest["spec"]["type"]


@pytest.mark.parametrize("feature", list(CAPABILITIES), ids=str)
async def test_capability_protocol_follows_the_declaration(
    store: StateStore, key: str, feature: StateFeature
) -> None:
    protocol, call = CAPABILITIES[feature]
    if feature in store.features():
        assert isinstance(store, protocol), f"{feature} declared but {protocol.__name__} missing"
    elif isinstance(store, protocol):
        with pytest.raises(NotSupported):
            await call(store, key)


async def test_undeclared_etag_is_not_supported(
    store: StateStore, case: StoreCase, key: str
) -> None:
    if StateFeature.ETAG in store.features():
        pytest.skip("the store declares ETAG (test_etag.py covers it)")
    with pytest.raises(NotSupported):
        await store.set(SetRequest(key=key, value=b"v", etag=case.bad_etag))
    with pytest.raises(NotSupported):
        await store.delete(DeleteRequest(key=key, etag=case.bad_etag))


async def test_undeclared_ttl_is_not_supported(store: StateStore, key: str) -> None:
    if StateFeature.TTL in store.features():
        pytest.skip("the store declares TTL (test_ttl.py covers it)")
    with pytest.raises(NotSupported):
        await store.set(SetRequest(key=key, value=b"v", ttl_seconds=60))
