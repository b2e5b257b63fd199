"""Coherence between what a component declares and what it does, for every block.

- ``declared`` features equal the matrix entry's list exactly (a component can neither lose
  nor silently gain a feature), as members of the block's feature enum;
- the component's ``info.type`` is the manifest's ``spec.type``;
- each feature, through the block's ``FeatureCheck``: declared => its capability Protocol is
  implemented; undeclared => the Protocol is not implemented, or using the feature raises
  ``NotSupported``. Every feature of the block's enum has a check.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest

from components.errors import NotSupported
from tests.conformance._harness import Case
from tests.conformance.blocks import BLOCKS


async def test_declared_features_are_exactly_the_expected_ones(
    component: Any, case: Case[Any]
) -> None:
    declared = case.block.declared(component)
    assert all(isinstance(f, case.block.features) for f in declared)
    assert frozenset(declared) == case.features


def test_component_type_matches_the_manifest(component: Any, case: Case[Any]) -> None:
    assert type(component).info.type == case.type


@pytest.mark.parametrize("block", list(BLOCKS.values()), ids=lambda b: b.name)
def test_every_feature_has_a_coherence_check(block: Any) -> None:
    assert set(block.checks) == set(block.features)


async def test_feature_follows_the_declaration(
    component: Any, case: Case[Any], key: str, feature: StrEnum
) -> None:
    check = case.block.checks.get(feature)
    assert check is not None, f"{case.block.name} has no FeatureCheck for {feature}"
    if feature in case.block.declared(component):
        assert check.protocol is not None, f"{feature} declared but not in the matrix entry"
        assert isinstance(component, check.protocol), (
            f"{feature} declared but {check.protocol.__name__} not implemented"
        )
        return
    if check.protocol is not None and not isinstance(component, check.protocol):
        return  # unreachable: the capability is not there
    with pytest.raises(NotSupported):
        await check.probe(component, case, key)
