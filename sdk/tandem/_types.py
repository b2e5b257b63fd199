"""Values the SDK returns."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KeysPage", "QueryResult", "StateItem"]


@dataclass(frozen=True, slots=True)
class StateItem:
    key: str
    data: bytes  # the stored bytes, exactly
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.data)

    def text(self) -> str:
        return self.data.decode()


@dataclass(frozen=True, slots=True)
class QueryResult:
    items: Sequence[StateItem]
    token: str | None


@dataclass(frozen=True, slots=True)
class KeysPage:
    keys: Sequence[str]
    token: str | None
