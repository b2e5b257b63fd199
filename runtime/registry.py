"""Component types by type string, resolved lazily from the catalog."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable

from components.base import Component
from runtime.catalog import CATALOG, CatalogEntry

__all__ = ["MissingDriver", "Registry", "UnknownComponentType"]


class UnknownComponentType(LookupError):
    pass


class MissingDriver(ImportError):
    pass


class Registry:
    def __init__(self, entries: Iterable[CatalogEntry] = CATALOG) -> None:
        self._entries: dict[tuple[str, str], CatalogEntry] = {}
        for entry in entries:
            key = (entry.type, entry.version)
            if key in self._entries:
                raise ValueError(f"duplicate catalog entry {entry.type}/{entry.version}")
            self._entries[key] = entry

    def types(self) -> list[str]:
        return sorted({t for t, _ in self._entries})

    def entry(self, type_: str, version: str = "v1") -> CatalogEntry:
        found = self._entries.get((type_.lower(), version))
        if found is not None:
            return found
        same_type = sorted(v for t, v in self._entries if t == type_.lower())
        if same_type:
            raise UnknownComponentType(
                f"component type {type_} has no version {version!r}; known: {', '.join(same_type)}"
            )
        block = type_.split(".", 1)[0]
        known = [t for t in self.types() if t.startswith(block + ".")] or self.types()
        raise UnknownComponentType(f"unknown component type {type_!r}; known: {', '.join(known)}")

    def resolve(self, type_: str, version: str = "v1") -> type[Component]:
        """The component class; raises UnknownComponentType or MissingDriver."""
        entry = self.entry(type_, version)
        for module in entry.requires:
            if importlib.util.find_spec(module) is None:
                raise MissingDriver(
                    f"{entry.type} needs the Python package {module!r}: "
                    f"pip install 'tandem[{entry.extra or 'all'}]'"
                )
        module_name, _, attr = entry.target.partition(":")
        cls: type[Component] = getattr(importlib.import_module(module_name), attr)
        return cls
