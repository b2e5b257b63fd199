"""Every catalog component, checked statically against its building block's Protocol.

mypy (strict) checks the per-block modules beside this one, ``tests/typing/<block>.py``;
nothing runs them but an import. Each assigns its classes to ``type[<Protocol>]`` (and to its
capability Protocols), which fails type checking as soon as a class drifts from the contract (a
missing method, a changed signature or return type), so ``ComponentStore``'s typed getters
(``runtime.compstore``) stay sound. Each module exports ``CHECKED``, the classes checked against
its block's Protocol; this module collects them by block (the module's name), and
``tests/conformance/test_catalog.py`` checks that every catalog class is listed under its block.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from pathlib import Path

from components.base import Component

__all__ = ["CHECKED"]

_PACKAGE = __name__.rpartition(".")[0]


def _checked(block: str) -> tuple[type[Component], ...]:
    found: object = getattr(importlib.import_module(f"{_PACKAGE}.{block}"), "CHECKED", ())
    if not isinstance(found, tuple) or not all(isinstance(c, type) for c in found):
        raise TypeError(f"{_PACKAGE}.{block}.CHECKED is not a tuple of classes")
    classes: tuple[type[Component], ...] = found
    return classes


CHECKED: Mapping[str, tuple[type[Component], ...]] = {
    info.name: _checked(info.name)
    for info in pkgutil.iter_modules([str(Path(__file__).parent)])
    if not info.name.startswith("_") and info.name != "components"
}
"""Block -> the classes checked in ``tests/typing/<block>.py`` against the block's Protocol."""
