"""The Dapr and Tandem gRPC services: one short method per RPC over the shared services."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2
from grpc import aio

from protos.dapr.runtime.v1 import dapr_pb2, dapr_pb2_grpc, metadata_pb2, state_pb2
from protos.tandem.v1 import tandem_pb2, tandem_pb2_grpc
from runtime.api.grpc.convert import (
    CONCURRENCY,
    CONSISTENCY,
    delete_item,
    metadata_response,
    save_item,
)
from runtime.services.metadata import MetadataService
from runtime.services.state import DeleteItem, StateService, TxOperation
from runtime.status import RuntimeStatus

__all__ = ["DaprService", "TandemService"]

Ctx = aio.ServicerContext[Any, Any]
_EMPTY = empty_pb2.Empty()


class DaprService(dapr_pb2_grpc.DaprServicer):
    def __init__(
        self, *, state: StateService, metadata: MetadataService, status: RuntimeStatus
    ) -> None:
        self._state = state
        self._metadata = metadata
        self._status = status

    async def GetState(
        self,
        request: state_pb2.GetStateRequest,
        context: Ctx,
    ) -> state_pb2.GetStateResponse:
        r = await self._state.get(
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
        self,
        request: state_pb2.GetBulkStateRequest,
        context: Ctx,
    ) -> state_pb2.GetBulkStateResponse:
        results = await self._state.bulk_get(
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

    async def SaveState(
        self,
        request: state_pb2.SaveStateRequest,
        context: Ctx,
    ) -> empty_pb2.Empty:
        await self._state.save(request.store_name, [save_item(s) for s in request.states])
        return _EMPTY

    async def QueryStateAlpha1(
        self,
        request: state_pb2.QueryStateRequest,
        context: Ctx,
    ) -> state_pb2.QueryStateResponse:
        result = await self._state.query(request.store_name, request.query, dict(request.metadata))
        return state_pb2.QueryStateResponse(
            results=[
                state_pb2.QueryStateItem(key=r.key, data=r.value or b"", etag=r.etag or "")
                for r in result.results
            ],
            token=result.token or "",
            metadata=dict(result.metadata),
        )

    async def DeleteState(
        self,
        request: state_pb2.DeleteStateRequest,
        context: Ctx,
    ) -> empty_pb2.Empty:
        await self._state.delete(
            request.store_name,
            DeleteItem(
                key=request.key,
                etag=request.etag.value if request.HasField("etag") else None,
                metadata=dict(request.metadata),
                concurrency=CONCURRENCY.get(request.options.concurrency),
                consistency=CONSISTENCY.get(request.options.consistency),
            ),
        )
        return _EMPTY

    async def DeleteBulkState(
        self,
        request: state_pb2.DeleteBulkStateRequest,
        context: Ctx,
    ) -> empty_pb2.Empty:
        await self._state.bulk_delete(request.store_name, [delete_item(s) for s in request.states])
        return _EMPTY

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
        await self._state.transact(request.storeName, ops, dict(request.metadata))
        return _EMPTY

    async def GetMetadata(
        self,
        request: metadata_pb2.GetMetadataRequest,
        context: Ctx,
    ) -> metadata_pb2.GetMetadataResponse:
        return metadata_response(self._metadata.snapshot())

    async def SetMetadata(
        self,
        request: metadata_pb2.SetMetadataRequest,
        context: Ctx,
    ) -> empty_pb2.Empty:
        self._metadata.set_attribute(request.key, request.value)
        return _EMPTY

    async def Shutdown(
        self,
        request: dapr_pb2.ShutdownRequest,
        context: Ctx,
    ) -> empty_pb2.Empty:
        force = any(
            k == "dapr-force-shutdown" and str(v).lower() == "true"
            for k, v in context.invocation_metadata() or ()
        )
        self._status.request_shutdown(force=force)
        return _EMPTY


class TandemService(tandem_pb2_grpc.TandemServicer):
    """Tandem's extensions to the Dapr API."""

    def __init__(self, *, state: StateService) -> None:
        self._state = state

    async def ListStateKeysAlpha1(
        self,
        request: tandem_pb2.ListStateKeysRequest,
        context: Ctx,
    ) -> tandem_pb2.ListStateKeysResponse:
        page = await self._state.list_keys(
            request.store_name,
            prefix=request.prefix,
            limit=request.limit or None,
            token=request.token,
        )
        return tandem_pb2.ListStateKeysResponse(keys=list(page.keys), token=page.token or "")
