"""State RPCs of ``dapr.proto.runtime.v1.Dapr``."""

from __future__ import annotations

from google.protobuf import empty_pb2

from protos.dapr.runtime.v1 import dapr_pb2_grpc, state_pb2
from runtime.api.grpc.convert import CONCURRENCY, CONSISTENCY, delete_item, save_item
from runtime.api.grpc.rpcs import EMPTY, BlockRpcs, Ctx
from runtime.services.state import DeleteItem, TxOperation

__all__ = ["StateRpcs"]


class StateRpcs(BlockRpcs, dapr_pb2_grpc.DaprServicer):
    async def GetState(
        self, request: state_pb2.GetStateRequest, context: Ctx
    ) -> state_pb2.GetStateResponse:
        r = await self._services.state.get(
            request.store_name,
            request.key,
            consistency=CONSISTENCY.get(request.consistency),
            metadata=dict(request.metadata),
        )
        if r.value is None:
            return state_pb2.GetStateResponse()
        return state_pb2.GetStateResponse(
            data=r.value, etag=r.etag or "", metadata=dict(r.metadata)
        )

    async def GetBulkState(
        self, request: state_pb2.GetBulkStateRequest, context: Ctx
    ) -> state_pb2.GetBulkStateResponse:
        results = await self._services.state.bulk_get(
            request.store_name, list(request.keys), metadata=dict(request.metadata)
        )
        return state_pb2.GetBulkStateResponse(
            items=[
                state_pb2.BulkStateItem(
                    key=r.key,
                    data=r.value or b"",
                    etag=r.etag or "",
                    error=r.error or "",
                    metadata=dict(r.metadata),
                )
                for r in results
            ]
        )

    async def SaveState(self, request: state_pb2.SaveStateRequest, context: Ctx) -> empty_pb2.Empty:
        await self._services.state.save(request.store_name, [save_item(s) for s in request.states])
        return EMPTY

    async def QueryStateAlpha1(
        self, request: state_pb2.QueryStateRequest, context: Ctx
    ) -> state_pb2.QueryStateResponse:
        result = await self._services.state.query(
            request.store_name, request.query, dict(request.metadata)
        )
        return state_pb2.QueryStateResponse(
            results=[
                state_pb2.QueryStateItem(key=r.key, data=r.value or b"", etag=r.etag or "")
                for r in result.results
            ],
            token=result.token or "",
            metadata=dict(result.metadata),
        )

    async def DeleteState(
        self, request: state_pb2.DeleteStateRequest, context: Ctx
    ) -> empty_pb2.Empty:
        await self._services.state.delete(
            request.store_name,
            DeleteItem(
                key=request.key,
                etag=request.etag.value if request.HasField("etag") else None,
                metadata=dict(request.metadata),
                concurrency=CONCURRENCY.get(request.options.concurrency),
                consistency=CONSISTENCY.get(request.options.consistency),
            ),
        )
        return EMPTY

    async def DeleteBulkState(
        self, request: state_pb2.DeleteBulkStateRequest, context: Ctx
    ) -> empty_pb2.Empty:
        await self._services.state.bulk_delete(
            request.store_name, [delete_item(s) for s in request.states]
        )
        return EMPTY

    async def ExecuteStateTransaction(
        self, request: state_pb2.ExecuteStateTransactionRequest, context: Ctx
    ) -> empty_pb2.Empty:
        ops = [
            TxOperation(
                operation=op.operationType,
                item=delete_item(op.request)
                if op.operationType.lower() == "delete"
                else save_item(op.request),
            )
            for op in request.operations
        ]
        await self._services.state.transact(request.storeName, ops, dict(request.metadata))
        return EMPTY
