"""Errors the SDK raises: each carries the sidecar's Dapr error code and HTTP status.

Example::

    from tandem.errors import ETagMismatch

    try:
        await client.save_state("statestore", "order-1", {"qty": 3}, etag=stale)
    except ETagMismatch as err:
        print(err.code, err.status)  # ERR_STATE_SAVE 409
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ETagMismatch",
    "InvalidArgument",
    "NotFound",
    "NotFoundError",
    "SidecarUnavailable",
    "TandemError",
    "Unauthorized",
    "error_from_response",
]


class TandemError(Exception):
    """The sidecar answered with an error: ``code`` is its ``ERR_*`` code, ``status`` HTTP's."""

    def __init__(
        self, status: int, code: str, message: str, details: list[Any] | None = None
    ) -> None:
        super().__init__(f"{code or 'error'}: {message} (HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.body = b""  # the answer's body, as received


class ETagMismatch(TandemError):
    """HTTP 409: the ETag given is not the current one (or a first write lost)."""


class NotFound(TandemError):
    """The store, secret, flag or other resource named in the call does not exist."""


NotFoundError = NotFound  # the 0.1 name


class Unauthorized(TandemError):
    """HTTP 401: the sidecar wants an API token (``DAPR_API_TOKEN``) and got none or another."""


class InvalidArgument(TandemError, ValueError):
    """An argument is invalid; raised by the SDK before any network call (``status`` 0)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "", message)


class SidecarUnavailable(TandemError, ConnectionError):
    """The sidecar did not answer (or not become ready in time) at ``address``."""

    def __init__(self, address: str, message: str) -> None:
        super().__init__(0, "", f"sidecar at {address}: {message}")
        self.address = address


_NOT_FOUND_CODES = frozenset(
    {
        "ERR_STATE_STORE_NOT_FOUND",
        "ERR_SECRET_STORE_NOT_FOUND",
        "ERR_PUBSUB_NOT_FOUND",
        "ERR_CONFIGURATION_STORE_NOT_FOUND",
        "FLAG_NOT_FOUND",
    }
)


def error_from_response(status: int, body: bytes) -> TandemError:
    """The exception for an error answer (Dapr's ``{"errorCode", "message"}`` or OFREP's)."""
    code, message, details = "", body.decode("utf-8", "replace"), None
    try:
        doc = json.loads(body)
        if isinstance(doc, dict):
            code = str(doc.get("errorCode") or "")
            message = str(doc.get("message") or doc.get("errorDetails") or "")
            details = doc.get("details")
    except ValueError:
        pass
    cls = TandemError
    if status == 409:
        cls = ETagMismatch
    elif status == 401:
        cls = Unauthorized
    elif status == 404 or code in _NOT_FOUND_CODES:
        cls = NotFound
    err = cls(status, code, message, details)
    err.body = body
    return err
