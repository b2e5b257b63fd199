"""The one duration parser of the code base (standard library only): resources
(``initTimeout``), Configuration, tracing settings and component metadata all go through it.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["MAX_DURATION", "parse_duration"]

# Go's time.Duration is an int64 of nanoseconds: anything longer does not exist in Dapr.
MAX_DURATION = (2**63 - 1) / 1e9

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign, as Go accepts
    "\u03bcs": 1e-6,  # Greek mu, as Go accepts
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_SECONDS = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
_HINT = "expected a Go duration such as 10s, 1m30s, 500ms, 1h2m3.5s, or a number of seconds"


def parse_duration(value: Any, *, allow_negative: bool = False) -> float:
    """Seconds from a Go duration (``1h2m3.5s``, ``500ms``, ``1us``/``1µs``, ``0``) or a plain
    number of seconds. Raises ValueError for NaN, infinities, negatives (unless
    ``allow_negative``), booleans and anything beyond Go's duration range (~292 years)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid duration: {_HINT}")  # noqa: TRY004 (pydantic wants ValueError)
    if isinstance(value, int):
        seconds = float(value) if abs(value) <= MAX_DURATION else math.inf
    elif isinstance(value, float):
        seconds = value
    else:
        seconds = _parse_text(value.strip())
    if math.isnan(seconds):
        raise ValueError("invalid duration: NaN is not a duration")
    if seconds < 0 and not allow_negative:
        raise ValueError("invalid duration: must not be negative")
    if abs(seconds) > MAX_DURATION:
        raise ValueError("invalid duration: out of range (the maximum is about 292 years)")
    return seconds


def _parse_text(text: str) -> float:
    if len(text) > 100:
        raise ValueError(f"invalid duration: {_HINT}")
    if _SECONDS.fullmatch(text):
        return float(text)
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in "+-" else text
    pos, total = 0, 0.0
    for m in _PART.finditer(body):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not body or pos != len(body):
        raise ValueError(f"invalid duration {text!r}: {_HINT}")
    return sign * total
