"""The one API error model. Services raise these; each protocol maps them to the wire once.

    APIError                       code, HTTP status, gRPC status, ErrorInfo reason
    ├── InvalidArgument            400 / INVALID_ARGUMENT
    │   └── UnsupportedOperation   400 / UNIMPLEMENTED      (unknown transaction op, as Dapr)
    ├── NotFound                   404 / NOT_FOUND
    ├── Conflict                   409 / ABORTED            (ETag mismatch)
    ├── PermissionDenied           403 / PERMISSION_DENIED
    ├── Unauthenticated            401 / UNAUTHENTICATED
    ├── PayloadTooLarge            413 / RESOURCE_EXHAUSTED
    ├── FailedPrecondition         500 / FAILED_PRECONDITION (nothing configured)
    ├── Unimplemented              501 / UNIMPLEMENTED
    ├── MethodNotAllowed           405 / UNIMPLEMENTED
    ├── NotSupported               500 / UNIMPLEMENTED      (store lacks the feature, as Dapr)
    ├── Unavailable                503 / UNAVAILABLE
    └── Internal                   500 / INTERNAL           (a backend failed)

Codes reuse Dapr's ``ERR_*`` strings so the Dapr SDKs' error handling keeps working. Raise an
instance with an explicit ``code`` (``Internal("...", code=ErrorCode.STATE_GET)``) or one of the
predefined subclasses below.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from http import HTTPStatus
from typing import ClassVar

import grpc

__all__ = [
    "APIError",
    "Conflict",
    "ErrorCode",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "MethodNotAllowed",
    "NotFound",
    "NotSupported",
    "PayloadTooLarge",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "UnsupportedOperation",
]


class ErrorCode(StrEnum):
    BAD_REQUEST = "ERR_BAD_REQUEST"
    MALFORMED_REQUEST = "ERR_MALFORMED_REQUEST"
    BODY_TOO_LARGE = "ERR_BODY_TOO_LARGE"
    BODY_READ = "ERR_BODY_READ"
    SERVER_BUSY = "ERR_SERVER_BUSY"  # Tandem: too many request body bytes in flight (503)
    INTERNAL = "ERR_INTERNAL"
    API_UNIMPLEMENTED = "ERR_API_UNIMPLEMENTED"
    UNAUTHENTICATED = "ERR_UNAUTHENTICATED"
    HEALTH_NOT_READY = "ERR_HEALTH_NOT_READY"
    OUTBOUND_HEALTH_NOT_READY = "ERR_OUTBOUND_HEALTH_NOT_READY"
    HEALTH_APPID_NOT_MATCH = "ERR_HEALTH_APPID_NOT_MATCH"
    METADATA_GET = "ERR_METADATA_GET"
    METADATA_TOO_LARGE = "ERR_METADATA_TOO_LARGE"  # Tandem: extended attributes over a bound
    STATE_STORE_NOT_FOUND = "ERR_STATE_STORE_NOT_FOUND"
    STATE_STORE_NOT_CONFIGURED = "ERR_STATE_STORE_NOT_CONFIGURED"
    STATE_STORE_NOT_SUPPORTED = "ERR_STATE_STORE_NOT_SUPPORTED"
    STATE_STORE_TOO_MANY_TRANSACTIONS = "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS"
    NOT_SUPPORTED_STATE_OPERATION = "ERR_NOT_SUPPORTED_STATE_OPERATION"
    STATE_GET = "ERR_STATE_GET"
    STATE_BULK_GET = "ERR_STATE_BULK_GET"
    STATE_SAVE = "ERR_STATE_SAVE"
    STATE_DELETE = "ERR_STATE_DELETE"
    STATE_TRANSACTION = "ERR_STATE_TRANSACTION"
    STATE_QUERY = "ERR_STATE_QUERY"
    STATE_LIST_KEYS = "ERR_STATE_LIST_KEYS"


class APIError(Exception):
    """An error a caller sees. ``reason`` is the gRPC ErrorInfo reason (defaults to the code)."""

    http_status: ClassVar[HTTPStatus] = HTTPStatus.INTERNAL_SERVER_ERROR
    grpc_status: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    default_code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.reason = reason or self.code.value
        self.metadata = dict(metadata or {})


class InvalidArgument(APIError):
    http_status = HTTPStatus.BAD_REQUEST
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT
    default_code = ErrorCode.BAD_REQUEST


class NotFound(APIError):
    http_status = HTTPStatus.NOT_FOUND
    grpc_status = grpc.StatusCode.NOT_FOUND
    default_code = ErrorCode.BAD_REQUEST


class Conflict(APIError):
    http_status = HTTPStatus.CONFLICT
    grpc_status = grpc.StatusCode.ABORTED
    default_code = ErrorCode.STATE_SAVE


class PermissionDenied(APIError):
    http_status = HTTPStatus.FORBIDDEN
    grpc_status = grpc.StatusCode.PERMISSION_DENIED
    default_code = ErrorCode.BAD_REQUEST


class Unauthenticated(APIError):
    http_status = HTTPStatus.UNAUTHORIZED
    grpc_status = grpc.StatusCode.UNAUTHENTICATED
    default_code = ErrorCode.UNAUTHENTICATED


class PayloadTooLarge(APIError):
    http_status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_code = ErrorCode.BODY_TOO_LARGE


class FailedPrecondition(APIError):
    http_status = HTTPStatus.INTERNAL_SERVER_ERROR
    grpc_status = grpc.StatusCode.FAILED_PRECONDITION
    default_code = ErrorCode.INTERNAL


class Unimplemented(APIError):
    http_status = HTTPStatus.NOT_IMPLEMENTED
    grpc_status = grpc.StatusCode.UNIMPLEMENTED
    default_code = ErrorCode.API_UNIMPLEMENTED


class MethodNotAllowed(APIError):
    http_status = HTTPStatus.METHOD_NOT_ALLOWED
    grpc_status = grpc.StatusCode.UNIMPLEMENTED
    default_code = ErrorCode.BAD_REQUEST


class UnsupportedOperation(InvalidArgument):
    """A transaction operation other than upsert/delete: HTTP 400 but gRPC UNIMPLEMENTED,
    as Dapr answers."""

    grpc_status = grpc.StatusCode.UNIMPLEMENTED
    default_code = ErrorCode.NOT_SUPPORTED_STATE_OPERATION


class NotSupported(APIError):
    http_status = HTTPStatus.INTERNAL_SERVER_ERROR
    grpc_status = grpc.StatusCode.UNIMPLEMENTED
    default_code = ErrorCode.STATE_STORE_NOT_SUPPORTED


class Unavailable(APIError):
    http_status = HTTPStatus.SERVICE_UNAVAILABLE
    grpc_status = grpc.StatusCode.UNAVAILABLE
    default_code = ErrorCode.INTERNAL


class Internal(APIError):
    pass
