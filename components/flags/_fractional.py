"""flagd's ``fractional`` operator in its two current bucketing generations.

v3 (CBOR bucketing values) is flagd-core 2.x's operator, used as is. v2 is the Go flagd daemon's
(0.15-0.16): MurmurHash3 x86-32 (seed 0, unsigned) of the UTF-8 bucketing string, by default
``flagKey + targetingKey``; ``bucket = hash * totalWeight >> 32``; the first bucket whose
cumulative weight exceeds it wins. Invalid input gives null (flagd's rule for custom operators).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mmh3
from openfeature.contrib.tools.flagd.core.targeting.custom_ops import fractional as fractional_v3

__all__ = ["fractional_v2", "fractional_v3"]

_MAX_WEIGHT_SUM = 2_147_483_647


def _buckets(args: Sequence[Any]) -> list[tuple[Any, int]] | None:
    out: list[tuple[Any, int]] = []
    for arg in args:
        if not isinstance(arg, (list, tuple)) or not 1 <= len(arg) <= 2:
            return None
        weight: Any = arg[1] if len(arg) == 2 else 1
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            return None
        if isinstance(weight, float):
            if not weight.is_integer():
                return None
            weight = int(weight)
        out.append((arg[0], max(0, weight)))
    return out


def fractional_v2(data: dict[str, Any], *args: Any) -> Any:
    if not args:
        return None
    first = args[0]
    if isinstance(first, (list, tuple)) or first is None:
        targeting_key = data.get("targetingKey")
        if not isinstance(targeting_key, str) or not targeting_key:
            return None
        flagd = data.get("$flagd")
        flag_key = flagd.get("flagKey", "") if isinstance(flagd, dict) else ""
        bucket_by = f"{flag_key}{targeting_key}"
        rest = args if first is not None else args[1:]
    elif isinstance(first, str):
        bucket_by, rest = first, args[1:]
    else:
        return None
    buckets = _buckets(rest)
    if not buckets:
        return None
    total = sum(w for _, w in buckets)
    if total <= 0 or total > _MAX_WEIGHT_SUM:
        return None
    bucket = (mmh3.hash(bucket_by.encode(), signed=False) * total) >> 32
    cumulative = 0
    for variant, weight in buckets:
        cumulative += weight
        if bucket < cumulative:
            return variant
    return None
