"""The building blocks under conformance test: adding a block is one line here.

Each block has a folder ``tests/conformance/<name>/`` holding its ``block.py`` (the ``Block``),
its ``components.yaml`` matrix, its manifests and its cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.conformance._harness import Block
from tests.conformance.configuration.block import CONFIGURATION
from tests.conformance.flags.block import FLAGS
from tests.conformance.nameresolution.block import NAMERESOLUTION
from tests.conformance.pubsub.block import PUBSUB
from tests.conformance.secretstores.block import SECRETSTORES
from tests.conformance.state.block import STATE

__all__ = ["BLOCKS", "block_of"]

BLOCKS: Mapping[str, Block[Any]] = {
    b.name: b for b in (STATE, CONFIGURATION, PUBSUB, SECRETSTORES, NAMERESOLUTION, FLAGS)
}

_ROOT = Path(__file__).resolve().parent


def block_of(path: Path) -> Block[Any] | None:
    """The block whose folder holds ``path``; None for the generic, all-block suites."""
    relative = path.resolve().relative_to(_ROOT)
    return BLOCKS.get(relative.parts[0]) if len(relative.parts) > 1 else None
