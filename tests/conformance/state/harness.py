"""What the state cases share beyond the generic harness (``tests.conformance._harness``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from components.state import StateStore
from tests.conformance._harness import Case
from tests.conformance.state.block import StateOptions

__all__ = ["MakeStore", "StoreCase", "enc"]

StoreCase = Case[StateOptions]
"""One entry of ``components.yaml``; the state fields are in ``case.options``."""

MakeStore = Callable[..., Awaitable[StateStore]]
"""``make_store(init=True)``: another store of the test's matrix entry."""


def enc(value: Any) -> bytes:
    """The bytes a value is stored as (Dapr's rule): bytes verbatim, anything else as JSON."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode("utf-8")
