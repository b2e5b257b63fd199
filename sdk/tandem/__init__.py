"""Tandem's Python SDK: an async client for the sidecar's HTTP API."""

from tandem._client import Client
from tandem._errors import ETagMismatch, NotFoundError, TandemError
from tandem._types import KeysPage, QueryResult, StateItem

__all__ = [
    "Client",
    "ETagMismatch",
    "KeysPage",
    "NotFoundError",
    "QueryResult",
    "StateItem",
    "TandemError",
]
__version__ = "0.1.0"
