"""State store contract (see ``_api``) and request/result types (see ``_types``)."""

from components.base import CatalogEntry
from components.state._api import (
    KeyLister,
    QueryableStateStore,
    StateFeature,
    StateStore,
    TransactionalStateStore,
)
from components.state._types import (
    And,
    BulkGetItem,
    Compare,
    Concurrency,
    Consistency,
    DeleteRequest,
    Filter,
    GetRequest,
    In,
    KeysPage,
    ListKeysRequest,
    Op,
    Or,
    Query,
    QueryItem,
    QueryResult,
    SetRequest,
    SortKey,
    StateItem,
    TransactionOp,
)

__all__ = [
    "CATALOG",
    "And",
    "BulkGetItem",
    "Compare",
    "Concurrency",
    "Consistency",
    "DeleteRequest",
    "Filter",
    "GetRequest",
    "In",
    "KeyLister",
    "KeysPage",
    "ListKeysRequest",
    "Op",
    "Or",
    "Query",
    "QueryItem",
    "QueryResult",
    "QueryableStateStore",
    "SetRequest",
    "SortKey",
    "StateFeature",
    "StateItem",
    "StateStore",
    "TransactionOp",
    "TransactionalStateStore",
]


# The block's components, by type: ``runtime.catalog`` collects every block's CATALOG.
# A target module is imported only when a component of its type is configured.
CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(type="state.in-memory", target="components.state.in_memory:InMemoryStateStore"),
    CatalogEntry(type="state.sqlite", target="components.state.sqlite:SqliteStateStore"),
    CatalogEntry(
        type="state.redis",
        target="components.state.redis:RedisStateStore",
        extra="redis",
        requires=("redis",),
    ),
    CatalogEntry(
        type="state.postgresql",
        target="components.state.postgresql:PostgresStateStore",
        extra="postgresql",
        requires=("asyncpg",),
    ),
)
