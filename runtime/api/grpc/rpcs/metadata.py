"""Metadata RPCs of ``dapr.proto.runtime.v1.Dapr``: GetMetadata, SetMetadata."""

from __future__ import annotations

from google.protobuf import empty_pb2

from protos.dapr.runtime.v1 import dapr_pb2_grpc, metadata_pb2
from runtime.api.grpc.convert import metadata_response
from runtime.api.grpc.rpcs import EMPTY, BlockRpcs, Ctx

__all__ = ["MetadataRpcs"]


class MetadataRpcs(BlockRpcs, dapr_pb2_grpc.DaprServicer):
    async def GetMetadata(
        self, request: metadata_pb2.GetMetadataRequest, context: Ctx
    ) -> metadata_pb2.GetMetadataResponse:
        return metadata_response(self._services.metadata.snapshot())

    async def SetMetadata(
        self, request: metadata_pb2.SetMetadataRequest, context: Ctx
    ) -> empty_pb2.Empty:
        self._services.metadata.set_attribute(request.key, request.value)
        return EMPTY
