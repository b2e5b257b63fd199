"""``InvokeService`` of ``dapr.proto.runtime.v1.Dapr`` (deprecated in Dapr, used by the SDKs).

HTTP-extension rules (Dapr's): ``http_extension.verb`` (NONE = no verb, as for a gRPC callee)
and ``querystring`` become the HTTP verb and query of the call; an HTTP callee needs a verb
(else INVALID_ARGUMENT). The callee's status comes back in the ``dapr-http-status`` header
(initial metadata, with the callee's response headers); a non-2xx answer of an HTTP callee
becomes a gRPC error of the matching code, a gRPC callee's error status is returned as is.
"""

from __future__ import annotations

import grpc
import msgspec
from google.protobuf import any_pb2

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2_grpc, invoke_pb2
from runtime.api.grpc.rpcs import BlockRpcs, Ctx
from runtime.appchannel._headers import grpc_metadata
from runtime.appchannel.base import InvokeRequest
from runtime.services.invoke_errors import InvokeErrors

__all__ = ["InvokeRpcs", "grpc_code_from_http"]

_VERBS = common_pb2.HTTPExtension.Verb
_SKIPPED_METADATA = frozenset(
    {":authority", "user-agent", "content-type", "te", "grpc-accept-encoding", "grpc-encoding"}
)
# Dapr's HTTP → gRPC status mapping for an HTTP callee's failure.
_FROM_HTTP = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ABORTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
_BY_VALUE = {code.value[0]: code for code in grpc.StatusCode}


def grpc_code_from_http(status: int) -> grpc.StatusCode:
    if 200 <= status < 400:
        return grpc.StatusCode.OK
    return _FROM_HTTP.get(
        status, grpc.StatusCode.UNKNOWN if status < 500 else grpc.StatusCode.INTERNAL
    )


class InvokeRpcs(BlockRpcs, dapr_pb2_grpc.DaprServicer):
    async def InvokeService(
        self, request: invoke_pb2.InvokeServiceRequest, context: Ctx
    ) -> common_pb2.InvokeResponse:
        message = request.message
        verb: str | None = None
        query = ""
        if message.HasField("http_extension"):
            value = message.http_extension.verb
            if value not in _VERBS.values():
                raise InvokeErrors.INVALID_REQUEST(detail=f"invalid HTTP verb {value}")
            if value != _VERBS.NONE:
                verb = _VERBS.Name(value)
            query = message.http_extension.querystring
        headers = tuple(
            (key, value)
            for key, value in context.invocation_metadata() or ()
            if isinstance(value, str) and key not in _SKIPPED_METADATA
        )
        reply = await self._services.invoke.invoke(
            request.id,
            InvokeRequest(
                method=message.method,
                verb=verb,
                headers=headers,
                query=query,
                body=message.data.value,
                content_type=message.content_type,
                data_type_url=message.data.type_url,
            ),
        )
        body = await self._services.invoke.read_whole(request.id, reply)
        metadata = (*grpc_metadata(reply.headers), ("dapr-http-status", str(reply.status)))
        await context.send_initial_metadata(metadata)
        if reply.grpc_status:
            code = _BY_VALUE.get(reply.grpc_status, grpc.StatusCode.UNKNOWN)
            await context.abort(code, _status_message(body))
        code = grpc_code_from_http(reply.status)
        if code is not grpc.StatusCode.OK:
            await context.abort(
                code, f"Received non-successful status code from app: {reply.status}"
            )
        return common_pb2.InvokeResponse(
            data=any_pb2.Any(type_url=reply.data_type_url, value=body),
            content_type=reply.content_type,
        )


def _status_message(body: bytes) -> str:
    """The message of a gRPC callee's error (the app channel encodes it as JSON)."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body.decode("utf-8", "replace")
    return str(document.get("message", "")) if isinstance(document, dict) else ""
