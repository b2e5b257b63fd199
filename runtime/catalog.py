"""The built-in components: every block's ``CATALOG``, collected with no import-time side effects.

Each building block lists its components in ``components/<block>/__init__.py`` as
``CATALOG: tuple[CatalogEntry, ...]``; this module collects the blocks found under
``components/`` (every public sub-package), in block-name order. A block's package imports only
its contract, never a driver: ``target`` is imported only when a component of that type is
configured (see ``runtime.registry``).
"""

from __future__ import annotations

import importlib
import pkgutil

import components
from components.base import CatalogEntry

__all__ = ["CATALOG", "CatalogEntry", "block_catalog"]


def block_catalog(block: str) -> tuple[CatalogEntry, ...]:
    """``components.<block>.CATALOG``, checked: entries of that block's type prefix only."""
    module = importlib.import_module(f"{components.__name__}.{block}")
    entries: object = getattr(module, "CATALOG", ())
    if not isinstance(entries, tuple):
        raise TypeError(f"components.{block}.CATALOG is not a tuple")
    checked: list[CatalogEntry] = []
    for entry in entries:
        if not isinstance(entry, CatalogEntry):
            raise TypeError(f"components.{block}.CATALOG holds {entry!r}, not a CatalogEntry")
        if entry.type.partition(".")[0] != block:
            raise ValueError(f"components.{block}.CATALOG lists {entry.type!r}, not {block}.*")
        checked.append(entry)
    return tuple(checked)


def _collect() -> tuple[CatalogEntry, ...]:
    blocks = sorted(
        info.name
        for info in pkgutil.iter_modules(components.__path__)
        if info.ispkg and not info.name.startswith("_")
    )
    return tuple(entry for block in blocks for entry in block_catalog(block))


CATALOG: tuple[CatalogEntry, ...] = _collect()
