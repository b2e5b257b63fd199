"""Request-level errors of the feature-flags block (OpenFeature codes, not Dapr ERR_* codes).

An evaluation that fails (unknown flag, type mismatch, targeting error) is not an exception: it
is a ``Resolution`` with an error code. ``FlagsRequestError`` is for a request that cannot be
evaluated at all (a context too large or too deep, an invalid selector); each adapter maps
``code`` to its wire once (OFREP: 400 with ``errorCode``; gRPC: INVALID_ARGUMENT).
"""

from __future__ import annotations

from components.flags import ErrorCode

__all__ = ["FlagsRequestError"]


class FlagsRequestError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
