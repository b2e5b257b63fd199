"""Live, initialised components by building block and name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ComponentStore", "LiveComponent"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveComponent:
    name: str
    type: str
    version: str
    block: str
    instance: Any
    # Built-in metadata the runtime consumes itself (e.g. keyPrefix), lower-cased names.
    runtime_metadata: Mapping[str, str] = field(default_factory=dict)


class ComponentStore:
    def __init__(self) -> None:
        self._by_block: dict[str, dict[str, LiveComponent]] = {}

    def add(self, component: LiveComponent) -> None:
        self._by_block.setdefault(component.block, {})[component.name] = component

    def get(self, block: str, name: str) -> LiveComponent | None:
        return self._by_block.get(block, {}).get(name)

    def has_block(self, block: str) -> bool:
        return bool(self._by_block.get(block))

    def names(self, block: str) -> list[str]:
        return sorted(self._by_block.get(block, {}))

    def __iter__(self) -> Iterator[LiveComponent]:
        for block in self._by_block.values():
            yield from block.values()
