"""Runtime RPCs of ``dapr.proto.runtime.v1.Dapr``: Shutdown."""

from __future__ import annotations

from google.protobuf import empty_pb2

from protos.dapr.runtime.v1 import dapr_pb2, dapr_pb2_grpc
from runtime.api.grpc.rpcs import EMPTY, BlockRpcs, Ctx

__all__ = ["RuntimeRpcs"]


class RuntimeRpcs(BlockRpcs, dapr_pb2_grpc.DaprServicer):
    async def Shutdown(self, request: dapr_pb2.ShutdownRequest, context: Ctx) -> empty_pb2.Empty:
        """Metadata ``dapr-force-shutdown: true``: the sidecar exits with code 1."""
        force = any(
            k == "dapr-force-shutdown" and str(v).lower() == "true"
            for k, v in context.invocation_metadata() or ()
        )
        self._services.status.request_shutdown(force=force)
        return EMPTY
