"""The building blocks under conformance test, discovered: adding a block adds its folder.

Each block has a folder ``tests/conformance/<name>/`` holding its ``block.py`` (which defines
the ``Block`` named ``<name>``), its ``components.yaml`` matrix, its manifests and its cases.
Every such ``block.py`` is collected here, in folder-name order.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.conformance._harness import Block

__all__ = ["BLOCKS", "block_of"]

_ROOT = Path(__file__).resolve().parent
_PACKAGE = __name__.rpartition(".")[0]


def _load(folder: str) -> Block[Any]:
    module = importlib.import_module(f"{_PACKAGE}.{folder}.block")
    found = [v for v in vars(module).values() if isinstance(v, Block) and v.name == folder]
    if len(found) != 1:
        raise LookupError(f"{module.__name__} must define one Block named {folder!r}")
    block: Block[Any] = found[0]
    return block


BLOCKS: Mapping[str, Block[Any]] = {
    path.parent.name: _load(path.parent.name)
    for path in sorted(_ROOT.glob("*/block.py"))
    if not path.parent.name.startswith("_")
}


def block_of(path: Path) -> Block[Any] | None:
    """The block whose folder holds ``path``; None for the generic, all-block suites."""
    relative = path.resolve().relative_to(_ROOT)
    return BLOCKS.get(relative.parts[0]) if len(relative.parts) > 1 else None
