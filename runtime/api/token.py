"""The ``dapr-api-token`` check both API adapters share (constant-time, byte-exact)."""

from __future__ import annotations

import hmac

from runtime.errors import APIError, Errors

__all__ = ["HEADER", "token_error"]

HEADER = "dapr-api-token"


def _raw(value: str | bytes) -> bytes:
    """The bytes the client sent. Servers hand non-UTF-8 header bytes over as lone surrogates
    (aiohttp: ``surrogateescape``); those encode back to the original bytes, anything else
    unencodable to bytes that are not UTF-8 and so never equal the token."""
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def token_error(given: str | bytes | None, expected: bytes) -> APIError | None:
    """None when ``given`` is the token, else the error to answer (missing or mismatch)."""
    if not given:
        return Errors.API_TOKEN_MISSING()
    if not hmac.compare_digest(_raw(given), expected):
        return Errors.API_TOKEN_MISMATCH()
    return None
