"""Errors the SDK raises, keyed by the sidecar's error codes."""

from __future__ import annotations

from typing import Any

__all__ = ["ETagMismatch", "NotFoundError", "TandemError"]


class TandemError(Exception):
    """The sidecar answered with an error: ``code`` is its ``ERR_*`` code."""

    def __init__(
        self, status: int, code: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


class ETagMismatch(TandemError):
    """HTTP 409: the ETag given is not the current one (or first-write lost)."""


class NotFoundError(TandemError):
    """The store (or other resource) named in the call does not exist."""
