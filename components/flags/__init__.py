"""The feature-flags block: flag sources (components) and flagd's evaluation semantics."""

from components.flags._api import FlagSource, FlagSourceFeature, Fractional, StoreBoundSource
from components.flags._types import (
    ErrorCode,
    FlagSetSnapshot,
    FlagType,
    Reason,
    Resolution,
    Scalar,
)

__all__ = [
    "ErrorCode",
    "FlagSetSnapshot",
    "FlagSource",
    "FlagSourceFeature",
    "FlagType",
    "Fractional",
    "Reason",
    "Resolution",
    "Scalar",
    "StoreBoundSource",
]
