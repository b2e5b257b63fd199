"""What every resolver answers: known app ids resolve to their addresses, unknown and malformed
ones to nothing (never an error), namespaces keep apps apart."""

from __future__ import annotations

import pytest

from components.nameresolution import Address, NameResolver
from tests.conformance._harness import Case
from tests.conformance.nameresolution.block import NameResolutionOptions


async def test_known_app_resolves_to_its_addresses(
    resolver: NameResolver, known: tuple[str, str, set[str]]
) -> None:
    app_id, namespace, addresses = known
    found = await resolver.resolve(app_id, namespace)
    assert all(isinstance(a, Address) for a in found)
    assert {str(a) for a in found} == addresses


async def test_answers_are_stable(resolver: NameResolver, known: tuple[str, str, set[str]]) -> None:
    app_id, namespace, _ = known
    first = await resolver.resolve(app_id, namespace)
    assert sorted(await resolver.resolve(app_id, namespace)) == sorted(first)


async def test_unknown_app_resolves_to_nothing(
    case: Case[NameResolutionOptions], resolver: NameResolver, key: str
) -> None:
    if case.options.any_name:
        pytest.skip("maps every well-formed app id (anyName)")
    assert await resolver.resolve(f"{key}-unknown", "default") == []


async def test_namespaces_keep_apps_apart(
    case: Case[NameResolutionOptions], resolver: NameResolver, known: tuple[str, str, set[str]]
) -> None:
    app_id, namespace, addresses = known
    other = await resolver.resolve(app_id, f"{namespace}-elsewhere")
    if case.options.any_name:
        assert {str(a) for a in other} != addresses
    elif namespace == "":  # an entry for any namespace
        assert {str(a) for a in other} == addresses
    else:
        assert other == []


@pytest.mark.parametrize("app_id", ["../../etc", "a b", "a/b", "", "x" * 300, "ünï"])
async def test_malformed_app_id_never_raises(resolver: NameResolver, app_id: str) -> None:
    found = await resolver.resolve(app_id, "default")
    assert isinstance(found, list)
    assert all(isinstance(a, Address) for a in found)
