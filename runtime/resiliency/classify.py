"""How the runner judges an error: a caller's mistake, or a failure of the target.

A *client error* is the caller's fault and says nothing about the target's health: it is
never retried and never counts as a circuit-breaker failure. They are

* the component errors about the request: ``ETagMismatch``, ``ETagInvalid``,
  ``InvalidRequest``, ``NotSupported``, and a ``BulkError`` made only of those;
* an error carrying an HTTP status below 500 (``APIError`` and the app channel's status
  errors expose ``http_status``, and ``grpc_code`` or ``grpc_status``), except 408 Request
  Timeout and 429 Too Many Requests.

Everything else (connection errors, timeouts, server errors, open breakers) is a failure.
``status_codes`` gives the HTTP and gRPC status an error carries, for ``matching`` filters.
"""

from __future__ import annotations

from components.errors import BulkError, ETagInvalid, ETagMismatch, InvalidRequest, NotSupported

__all__ = ["is_client_error", "status_codes"]

_CLIENT_COMPONENT_ERRORS = (ETagMismatch, ETagInvalid, InvalidRequest, NotSupported)
_RETRIABLE_4XX = frozenset({408, 429})


def _http_status(exc: BaseException) -> int | None:
    status = getattr(exc, "http_status", None)
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def _grpc_status(exc: BaseException) -> int | None:
    status = getattr(exc, "grpc_code", None) or getattr(exc, "grpc_status", None)
    if status is None:
        return None
    value = getattr(status, "value", status)  # grpc.StatusCode's value is (code, name)
    if isinstance(value, tuple):
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def status_codes(exc: BaseException) -> tuple[int | None, int | None]:
    """``(http_status, grpc_code)`` carried by ``exc``; either may be None."""
    return _http_status(exc), _grpc_status(exc)


def is_client_error(exc: BaseException) -> bool:
    if isinstance(exc, _CLIENT_COMPONENT_ERRORS):
        return True
    if isinstance(exc, BulkError):
        inner = list(exc.errors.values())
        return bool(inner) and all(isinstance(e, _CLIENT_COMPONENT_ERRORS) for e in inner)
    status = _http_status(exc)
    return status is not None and status < 500 and status not in _RETRIABLE_4XX
