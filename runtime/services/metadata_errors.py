"""The metadata API's entries of the error table (see runtime/errors.py).

Tandem bounds the extended attributes an API caller may set (every caller reads them all back
in one response); Dapr has no such bounds, hence no Dapr counterpart for these entries.
"""

from __future__ import annotations

from http import HTTPStatus

import grpc

from runtime.errors import ErrorKind, ErrorTable

__all__ = ["MetadataErrors"]

_TANDEM_ONLY = "Tandem's bounds on extended attributes; Dapr has none"


class MetadataErrors(ErrorTable):
    ATTRIBUTE_KEY_INVALID = ErrorKind(
        code="ERR_BAD_REQUEST",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=grpc.StatusCode.INVALID_ARGUMENT,
        message="metadata key must be 1 to {max} bytes, got {size}",
        note=_TANDEM_ONLY,
    )
    ATTRIBUTES_TOO_LARGE = ErrorKind(
        code="ERR_METADATA_TOO_LARGE",
        http_status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED,
        message="{detail}",
        note=_TANDEM_ONLY,
    )
