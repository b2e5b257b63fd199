"""Feature gating: ``@requires(Feature.X)`` runs a case only for components declaring X.

The ``component`` fixture skips a marked test for a component lacking a feature; the generic
``test_features.py`` checks the undeclared side (the feature really is unsupported).
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

import pytest

__all__ = ["FEATURE_MARK", "missing_features", "requires"]

FEATURE_MARK = "requires_features"


def requires(*features: StrEnum) -> pytest.MarkDecorator:
    """Run the test only for components that declare all ``features``."""
    if not features:
        raise ValueError("requires() needs at least one feature")
    mark: pytest.MarkDecorator = getattr(pytest.mark, FEATURE_MARK)
    return mark(*features)


def missing_features(node: pytest.Item, declared: Collection[StrEnum]) -> list[str]:
    """The features ``node``'s ``requires`` marks name that ``declared`` lacks."""
    return [
        str(f) for mark in node.iter_markers(FEATURE_MARK) for f in mark.args if f not in declared
    ]
