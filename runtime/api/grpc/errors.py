"""APIError → gRPC status with google.rpc details: the one gRPC mapping.

The ``grpc-status-details-bin`` trailer holds a ``google.rpc.Status`` whose details are the
same as the HTTP body's: ErrorInfo (reason = the entry's reason, else its code; metadata plus
``errorCode``, the ``ERR_*`` code, which gRPC has no other place for), then ResourceInfo and
BadRequest when the error carries them.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from runtime.errors import DOMAIN, APIError

__all__ = ["to_grpc_status"]


def _pack(msg: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(msg)
    return packed


def to_grpc_status(err: APIError) -> grpc.Status:
    """The status the Dapr SDKs parse: ``DaprGrpcError.error_code()`` is the ErrorInfo reason.
    Texts are cut as for HTTP (``APIError.bounded``), so the status fits a client's headers."""
    err = err.bounded()
    details = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=err.reason, domain=DOMAIN, metadata={**err.metadata, "errorCode": err.code}
            )
        )
    ]
    if err.kind.resource_type and err.resource is not None:
        details.append(
            _pack(
                error_details_pb2.ResourceInfo(
                    resource_type=err.kind.resource_type, resource_name=err.resource
                )
            )
        )
    if err.violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in err.violations
                    ]
                )
            )
        )
    status = status_pb2.Status(code=err.grpc_code.value[0], message=err.message, details=details)
    return rpc_status.to_status(status)
