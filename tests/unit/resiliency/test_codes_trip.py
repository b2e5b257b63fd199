"""Status-code lists of ``matching`` and CEL ``trip`` expressions."""

from __future__ import annotations

import pytest

from runtime.resiliency.breaker import Counts
from runtime.resiliency.codes import GRPC_CODES, HTTP_CODES, parse_codes
from runtime.resiliency.trip import compile_trip


def test_codes_and_ranges() -> None:
    assert parse_codes("500-503,429", HTTP_CODES) == {500, 501, 502, 503, 429}
    assert parse_codes(" 14 ", GRPC_CODES) == {14}
    assert parse_codes(14, GRPC_CODES) == {14}
    assert parse_codes("", HTTP_CODES) == frozenset()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("600", "out of range"),
        ("abc", "invalid code"),
        ("503-500", "start is above end"),
        ("500,,503", "empty entry"),
        ("0-17", "out of range"),
    ],
)
def test_bad_codes_name_the_entry(text: str, fragment: str) -> None:
    valid = GRPC_CODES if text.startswith("0-") else HTTP_CODES
    with pytest.raises(ValueError, match=fragment):
        parse_codes(text, valid)


def test_trip_reads_every_count() -> None:
    trip = compile_trip(
        "consecutiveFailures > 2 || (requests >= 10 && totalFailures * 2 > requests)"
    )
    assert not trip(Counts(requests=3, consecutive_failures=2, total_failures=2))
    assert trip(Counts(requests=3, consecutive_failures=3, total_failures=3))
    assert trip(Counts(requests=10, total_failures=6, consecutive_failures=1))
    assert not trip(Counts(requests=10, total_failures=5, total_successes=5))
    only_successes = compile_trip("consecutiveSuccesses == 0 && totalSuccesses == 0")
    assert only_successes(Counts())


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("consecutiveFailures >", "Syntax error"),
        ("failures > 3", "undeclared reference to 'failures'"),
        ("consecutiveFailures + 1", "expected a bool"),
        ("  ", "empty trip expression"),
    ],
)
def test_bad_trip_is_a_clear_error(expression: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        compile_trip(expression)


def test_trip_evaluation_error_does_not_trip() -> None:
    trip = compile_trip("totalFailures / requests > 0")
    assert not trip(Counts(requests=0, total_failures=0))
    assert trip(Counts(requests=2, total_failures=2))
