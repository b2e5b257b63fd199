"""Tandem's Python SDK: a client for the sidecar (Tandem's or Dapr's) and the app side.

Example::

    from tandem import AsyncClient

    async with AsyncClient() as client:
        await client.save_state("statestore", "order-1", {"qty": 2})
"""

from tandem._client import AsyncClient, FailedEntry, InvokeResponse, StreamingResponse
from tandem._streams import TopicSubscription
from tandem._sync import Client
from tandem._types import (
    BulkMessage,
    ConfigurationItem,
    Delete,
    FlagEvaluation,
    KeysPage,
    QueryResult,
    StateEntry,
    StateItem,
    Upsert,
)
from tandem.errors import (
    ETagMismatch,
    InvalidArgument,
    NotFound,
    NotFoundError,
    SidecarUnavailable,
    TandemError,
    Unauthorized,
)

__all__ = [
    "AsyncClient",
    "BulkMessage",
    "Client",
    "ConfigurationItem",
    "Delete",
    "ETagMismatch",
    "FailedEntry",
    "FlagEvaluation",
    "InvalidArgument",
    "InvokeResponse",
    "KeysPage",
    "NotFound",
    "NotFoundError",
    "QueryResult",
    "SidecarUnavailable",
    "StateEntry",
    "StateItem",
    "StreamingResponse",
    "TandemError",
    "TopicSubscription",
    "Unauthorized",
    "Upsert",
]
__version__ = "0.2.0"
