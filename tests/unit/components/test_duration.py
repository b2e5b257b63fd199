"""The one duration parser (components/_metadata.py): Go durations and seconds, bounded."""

from __future__ import annotations

import math

import pytest

from components._metadata import MAX_DURATION, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1h2m3.5s", 3723.5),
        ("500ms", 0.5),
        ("1us", 1e-6),
        ("1\u00b5s", 1e-6),
        ("1\u03bcs", 1e-6),
        ("1500ns", 1.5e-6),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("0", 0.0),
        ("0s", 0.0),
        ("10", 10.0),
        ("2.5", 2.5),
        (" 10s ", 10.0),
        (7, 7.0),
        (0.25, 0.25),
        ("2562047h", 2562047 * 3600.0),  # Go's largest whole number of hours
    ],
)
def test_go_durations_and_seconds(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (math.nan, "NaN"),
        (math.inf, "range"),
        ("nan", "duration"),
        ("inf", "duration"),
        (-1, "negative"),
        ("-1s", "negative"),
        (10**30, "range"),
        ("3000000h", "range"),
        ("1e400", "duration"),
        (True, "duration"),
        (None, "duration"),
        ("", "duration"),
        ("1d", "duration"),
        ("1s1", "duration"),
        ("s", "duration"),
        ("1" * 200 + "s", "duration"),
    ],
)
def test_refused_with_a_clear_error(value: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_duration(value)


def test_negative_where_meaningful() -> None:
    assert parse_duration("-1m", allow_negative=True) == -60.0
    with pytest.raises(ValueError, match="range"):
        parse_duration(-MAX_DURATION * 2, allow_negative=True)
