"""Domain types of the feature-flags block: flags, flag sets and evaluation results."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec

__all__ = [
    "ErrorCode",
    "FlagSetSnapshot",
    "FlagType",
    "Reason",
    "Resolution",
    "Scalar",
]

Scalar = str | int | float | bool


class Reason(StrEnum):
    """OpenFeature's standard reasons (the only ones the SDKs' enums accept)."""

    STATIC = "STATIC"
    DEFAULT = "DEFAULT"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    CACHED = "CACHED"
    DISABLED = "DISABLED"
    UNKNOWN = "UNKNOWN"
    STALE = "STALE"
    ERROR = "ERROR"


class ErrorCode(StrEnum):
    """OpenFeature's error codes (flagd produces the first five)."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    PARSE_ERROR = "PARSE_ERROR"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    GENERAL = "GENERAL"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"


class FlagType(StrEnum):
    """The typed accessor a caller used (``ANY`` for OFREP and bulk, which do not say)."""

    ANY = "any"
    BOOLEAN = "boolean"
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    OBJECT = "object"


class Resolution(msgspec.Struct, frozen=True, kw_only=True):
    """One evaluation. ``has_value`` False means "the caller's default" (code default,
    DISABLED, or an error); ``value`` and ``variant`` are then None."""

    key: str
    reason: Reason
    value: Any = None
    has_value: bool = False
    variant: str | None = None
    error_code: ErrorCode | None = None
    error_message: str | None = None
    metadata: Mapping[str, Scalar] = msgspec.field(default_factory=dict)


class FlagSetSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What a source serves: a flagd flag-set document, already parsed and validated.

    ``document`` is the flagd JSON object (``flags``, optional ``$evaluators`` and
    ``metadata``); ``revision`` changes whenever the content does.
    """

    document: Mapping[str, Any]
    revision: str
