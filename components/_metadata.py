"""Field types shared by component metadata models."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["Duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(value: Any) -> float:
    """Seconds from a Go-style duration ("1m30s", "500ms") or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError(  # noqa: TRY004 (pydantic only converts ValueError)
            "expected a duration such as 10s or a number of seconds"
        )
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 10s, 1m30s, 500ms or seconds")
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]
