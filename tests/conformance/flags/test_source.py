"""What every flag source guarantees after ``init()`` (the flagd document it serves)."""

from __future__ import annotations

from typing import Any

from components.flags import FlagSource
from components.flags.engine import parse_flag_set
from tests.conformance._harness import Case


async def test_init_serves_a_valid_flagd_document(source: FlagSource, case: Case[Any]) -> None:
    snapshot = source.flags()
    flags = parse_flag_set(snapshot.document, fractional=source.fractional)
    assert sorted(flags) == sorted(case.options.flag_keys)
    assert snapshot.revision
    assert "$schema" not in snapshot.document


async def test_a_subscription_can_be_cancelled_twice(component: FlagSource) -> None:
    calls: list[None] = []
    unsubscribe = component.subscribe(lambda: calls.append(None))
    unsubscribe()
    unsubscribe()
    assert calls == []


async def test_the_bucketing_generation_defaults_to_v3(component: FlagSource) -> None:
    assert component.fractional == "v3"
    assert component.flag_set_id is None
