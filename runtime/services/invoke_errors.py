"""Service invocation's entries of the error table (see runtime/errors.py).

Dapr answers every invocation failure ``ERR_DIRECT_INVOKE``: 404 / NotFound when no app id is
given or found, 403 when an ACL denies (not yet in Tandem), 500 / Internal otherwise, the
message saying why; 400 / InvalidArgument for a request the callee cannot take (no HTTP verb
for an HTTP app).
"""

from __future__ import annotations

from http import HTTPStatus

import grpc

from runtime.errors import ErrorKind, ErrorTable

__all__ = ["InvokeErrors"]

SC = grpc.StatusCode
_CODE = "ERR_DIRECT_INVOKE"


class InvokeErrors(ErrorTable):
    APP_ID_MISSING = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.NOT_FOUND,
        grpc_code=SC.NOT_FOUND,
        message="failed getting app id either from the URL path or the header dapr-app-id",
    )
    APP_NOT_FOUND = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.NOT_FOUND,
        grpc_code=SC.NOT_FOUND,
        message="failed to resolve address for app id {app_id!r}: no sidecar registered",
    )
    INVALID_REQUEST = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="{detail}",
    )
    UNREACHABLE = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed to invoke app id {app_id!r}: cannot reach its sidecar: {detail}",
    )
    CALL_FAILED = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed to invoke app id {app_id!r}: {detail}",
    )
    TIMEOUT = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed to invoke app id {app_id!r} within its resiliency timeout: {detail}",
    )
    BREAKER_OPEN = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed to invoke app id {app_id!r}: its circuit breaker refused: {detail}",
    )
    APP_UNHEALTHY = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed to invoke app id {app_id!r}: app is not in a healthy state",
    )
    RESPONSE_TOO_LARGE = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.RESOURCE_EXHAUSTED,
        message="failed to invoke app id {app_id!r}: its response body is larger than {limit} "
        "bytes, the limit for a response held in one message (--max-body-size)",
        note="Dapr's gRPC server refuses such a message with RESOURCE_EXHAUSTED too",
    )
    NO_APP_CHANNEL = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed to invoke app id {app_id!r}: app channel not initialized "
        "(the sidecar has no --app-port)",
    )
    NOT_GRPC_APP = ErrorKind(
        code=_CODE,
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed to proxy a gRPC call to app id {app_id!r}: its app does not speak gRPC "
        "(--app-protocol grpc or grpcs)",
    )
