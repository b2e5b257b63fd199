"""The state block as the shared conformance harness sees it.

Matrix fields of its own (``components.yaml``):
  badEtag:       an ETag well formed for this store but never current: writes with it must
                 raise ETagMismatch (not ETagInvalid)
  malformedEtag: optional; an ETag this store can never produce: must raise ETagInvalid
  durable:       optional, default false; true when two instances built from the manifest share
                 their data (same file or server); enables test_shared.py
  orderedKeys:   optional, default true; false for a store whose list_keys pages come in no
                 particular order and may repeat a key on a later page (Redis: SCAN order)

Feature coherence: TRANSACTIONAL, QUERY_API, LIST_KEYS are capability Protocols (declared =>
implemented; undeclared => not implemented, or calling it raises NotSupported); ETAG and TTL
undeclared => a request using them raises NotSupported.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.state import (
    DeleteRequest,
    KeyLister,
    ListKeysRequest,
    Query,
    QueryableStateStore,
    SetRequest,
    StateFeature,
    TransactionalStateStore,
)
from tests.conformance._harness import Block, Case, FeatureCheck

__all__ = ["STATE", "StateOptions"]


class StateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    bad_etag: str = Field(alias="badEtag")
    malformed_etag: str | None = Field(default=None, alias="malformedEtag")
    durable: bool = False
    ordered_keys: bool = Field(default=True, alias="orderedKeys")


async def _etag(store: Any, case: Case[Any], key: str) -> None:
    await store.set(SetRequest(key=key, value=b"v", etag=case.options.bad_etag))
    await store.delete(DeleteRequest(key=key, etag=case.options.bad_etag))


async def _ttl(store: Any, _: Case[Any], key: str) -> None:
    await store.set(SetRequest(key=key, value=b"v", ttl_seconds=60))


async def _transact(store: Any, _: Case[Any], key: str) -> None:
    await store.transact([SetRequest(key=key, value=b"v")])


async def _query(store: Any, _: Case[Any], key: str) -> None:
    await store.query(Query(key_prefix=key))


async def _list_keys(store: Any, _: Case[Any], key: str) -> None:
    await store.list_keys(ListKeysRequest(prefix=key))


STATE: Block[StateOptions] = Block(
    name="state",
    features=StateFeature,
    declared=lambda store: store.features(),
    options=StateOptions,
    checks={
        StateFeature.ETAG: FeatureCheck(protocol=None, probe=_etag),
        StateFeature.TTL: FeatureCheck(protocol=None, probe=_ttl),
        StateFeature.TRANSACTIONAL: FeatureCheck(protocol=TransactionalStateStore, probe=_transact),
        StateFeature.QUERY_API: FeatureCheck(protocol=QueryableStateStore, probe=_query),
        StateFeature.LIST_KEYS: FeatureCheck(protocol=KeyLister, probe=_list_keys),
    },
)
