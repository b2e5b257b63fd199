"""Security's entries of the error table (see runtime/errors.py)."""

from __future__ import annotations

from http import HTTPStatus

import grpc

from runtime.errors import ErrorKind, ErrorTable

__all__ = ["SecurityErrors"]


class SecurityErrors(ErrorTable):
    ACCESS_DENIED = ErrorKind(
        code="ERR_DIRECT_INVOKE",
        http_status=HTTPStatus.FORBIDDEN,
        grpc_code=grpc.StatusCode.PERMISSION_DENIED,
        message="access control policy has denied access to method {method!r} "
        "for caller {caller!r}",
    )
    PEER_REJECTED = ErrorKind(
        code="ERR_DIRECT_INVOKE",
        http_status=HTTPStatus.FORBIDDEN,
        grpc_code=grpc.StatusCode.PERMISSION_DENIED,
        message="the callee sidecar refused the caller's certificate: {reason}",
    )
