"""APIError → gRPC status with google.rpc.ErrorInfo details: the one gRPC mapping."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from runtime.errors import APIError

__all__ = ["to_grpc_status"]


def to_grpc_status(err: APIError) -> grpc.Status:
    """The status the Dapr SDKs parse: ``DaprGrpcError.error_code()`` is the ErrorInfo reason."""
    info = error_details_pb2.ErrorInfo(
        reason=err.reason, domain="dapr.io", metadata={**err.metadata, "errorCode": err.code.value}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=err.grpc_status.value[0], message=err.message, details=[detail])
    return rpc_status.to_status(status)
