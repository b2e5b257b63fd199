"""Tandem's state extension: ``tandem.runtime.v1.Tandem/ListStateKeysAlpha1``."""

from __future__ import annotations

from protos.tandem.v1 import tandem_pb2, tandem_pb2_grpc
from runtime.api.grpc.rpcs import BlockRpcs, Ctx

__all__ = ["StateKeysRpcs"]


class StateKeysRpcs(BlockRpcs, tandem_pb2_grpc.TandemServicer):
    async def ListStateKeysAlpha1(
        self, request: tandem_pb2.ListStateKeysRequest, context: Ctx
    ) -> tandem_pb2.ListStateKeysResponse:
        page = await self._services.state.list_keys(
            request.store_name,
            prefix=request.prefix,
            limit=request.limit or None,
            token=request.token,
        )
        return tandem_pb2.ListStateKeysResponse(keys=list(page.keys), token=page.token or "")
