"""Errors components raise. The runtime's service layer maps them to API errors.

ComponentError
├── ETagMismatch      the given ETag is well formed but not current (or first-write lost)
├── ETagInvalid       the given ETag cannot be an ETag of this store
├── NotSupported      the operation or option is not a declared feature of this component
├── InvalidRequest    the request is well typed but the backend cannot accept it
└── BulkError         per-key errors of a non-atomic bulk operation
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "BulkError",
    "ComponentError",
    "ETagInvalid",
    "ETagMismatch",
    "InvalidRequest",
    "NotSupported",
    "shown",
]


def shown(value: object, limit: int = 64) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error message never echoes a whole
    (possibly huge, possibly hostile) input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ComponentError(Exception):
    """Base of the errors a component raises on purpose."""


class ETagMismatch(ComponentError):
    def __init__(self, key: str = "") -> None:
        super().__init__(f"possible etag mismatch for key {key!r}" if key else "etag mismatch")
        self.key = key


class ETagInvalid(ComponentError):
    def __init__(self, etag: str = "") -> None:
        super().__init__(f"invalid etag value {shown(etag)}")
        self.etag = etag


class NotSupported(ComponentError):
    pass


class InvalidRequest(ComponentError):
    pass


class BulkError(ComponentError):
    """Raised by non-atomic bulk operations: the keys not listed here succeeded."""

    def __init__(self, errors: Mapping[str, Exception]) -> None:
        self.errors = dict(errors)
        detail = "; ".join(f"{k}: {e}" for k, e in self.errors.items())
        super().__init__(f"{len(self.errors)} item(s) failed: {detail}")
