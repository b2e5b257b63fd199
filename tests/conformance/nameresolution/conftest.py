"""The name resolution suite's fixtures: ``resolver`` (the shared ``component``) and
``known`` (an app id the resolver answers, with its addresses: the matrix's, or registered)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from components.nameresolution import NameResolver, RegisteringResolver
from tests.conformance._harness import Case
from tests.conformance.nameresolution.block import NameResolutionOptions, registration


@pytest.fixture
def resolver(component: object) -> NameResolver:
    return cast(NameResolver, component)


@pytest.fixture
async def known(
    case: Case[NameResolutionOptions], resolver: Any, key: str
) -> tuple[str, str, set[str]]:
    if case.options.known is not None:
        k = case.options.known
        return k.app_id, k.namespace, set(k.addresses)
    assert isinstance(resolver, RegisteringResolver)
    await resolver.register(registration(key, 50002))
    return key, "default", {"127.0.0.1:50002"}
