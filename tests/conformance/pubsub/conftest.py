"""The pub/sub suite's names for the shared fixtures (``tests/conformance/conftest.py``).

- ``pubsub``: one initialised component (the shared ``component``: gated by ``requires``);
- ``make_pubsub``: builds another component of the test's matrix entry (``make_component``);
- ``replica``: a second handle on the same broker for consumer-group cases: another instance
  when the entry is ``shared``, else ``pubsub`` itself;
- ``topic``, ``group``: names unique to the test.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from components.pubsub import PubSub
from tests.conformance._harness import Case, MakeComponent
from tests.conformance.pubsub.harness import MakePubSub
from tests.servers import unique


@pytest.fixture
def pubsub(component: object) -> PubSub:
    return cast(PubSub, component)


@pytest.fixture
def make_pubsub(make_component: MakeComponent) -> MakePubSub:
    return make_component


@pytest.fixture
async def replica(pubsub: PubSub, make_pubsub: MakePubSub, case: Case[Any]) -> PubSub:
    return await make_pubsub() if case.options.shared else pubsub


@pytest.fixture
def topic() -> str:
    return unique("topic")


@pytest.fixture
def group() -> str:
    return unique("group")
