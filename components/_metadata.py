"""Field types shared by component metadata models and resource files."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

from components._duration import MAX_DURATION, parse_duration

__all__ = ["MAX_DURATION", "Duration", "SignedDuration", "parse_duration"]

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A non-negative duration in seconds."""

SignedDuration = Annotated[float, BeforeValidator(lambda v: parse_duration(v, allow_negative=True))]
"""A duration in seconds that may be negative (where Dapr gives negatives a meaning)."""
