"""The component lifecycle contract (``components.base``) for every matrix entry of every block.

Construction does no I/O; ``close()`` without ``init()`` is safe and idempotent; instances
built from one manifest init and close in turn (files, locks and connections are released)
and ``close()`` after ``init()`` is idempotent. Every catalog entry has a matrix entry
(``test_catalog.py``), so this covers the whole catalog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conformance._harness import Case, build_component


async def test_close_without_init_is_safe_and_idempotent(
    case: Case[Any], tmp_path: Path, unique_name: str
) -> None:
    component = build_component(case, tmp_path, unique_name)
    await component.close()
    await component.close()


async def test_init_and_close_in_turn(case: Case[Any], tmp_path: Path, unique_name: str) -> None:
    for _ in range(2):
        component = build_component(case, tmp_path, unique_name)
        await component.init()
        assert frozenset(case.block.declared(component)) == case.features
        await component.close()
        await component.close()
