"""flagd's sync service (``flagd.sync.v1.FlagSyncService``) for in-process flagd providers.

``SyncFlags`` sends the whole flag configuration (flagd's ``{"flags": {...}}`` JSON, shared
evaluators inlined) at once and again after every change; ``FetchAllFlags`` sends it once. The
``Flagd-Selector`` metadata (or the deprecated ``selector`` field) chooses a flag set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from protos.flagd.sync.v1 import sync_pb2, sync_pb2_grpc
from runtime.api.grpc.rpcs import BlockRpcs, Ctx
from runtime.api.grpc.rpcs.flags import selector, struct
from runtime.services.flags import FlagsService
from runtime.services.flags_errors import FlagsRequestError

__all__ = ["FlagdSyncRpcs"]

_EMPTY = '{"flags":{}}'


async def _document(flags: FlagsService, sel: str | None, context: Ctx) -> str:
    try:
        return flags.sync_document(sel)
    except FlagsRequestError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        raise AssertionError("unreachable") from exc


class FlagdSyncRpcs(BlockRpcs, sync_pb2_grpc.FlagSyncServiceServicer):
    async def SyncFlags(
        self, request: sync_pb2.SyncFlagsRequest, context: Ctx
    ) -> AsyncIterator[sync_pb2.SyncFlagsResponse]:
        flags = self._services.flags
        sel = selector(context) or request.selector or None
        if flags is None:
            yield sync_pb2.SyncFlagsResponse(flag_configuration=_EMPTY)
            await self._services.status.shutdown_requested.wait()
            return
        yield sync_pb2.SyncFlagsResponse(flag_configuration=await _document(flags, sel, context))
        # Keep-alives are left to HTTP/2 pings; this stream only carries configurations.
        async for revision in flags.changes(
            stop=self._services.status.shutdown_requested, keepalive=3600.0
        ):
            if revision is not None:
                yield sync_pb2.SyncFlagsResponse(flag_configuration=flags.sync_document(sel))

    async def FetchAllFlags(
        self, request: sync_pb2.FetchAllFlagsRequest, context: Ctx
    ) -> sync_pb2.FetchAllFlagsResponse:
        flags = self._services.flags
        sel = selector(context) or request.selector or None
        document = _EMPTY if flags is None else await _document(flags, sel, context)
        return sync_pb2.FetchAllFlagsResponse(flag_configuration=document)

    async def GetMetadata(
        self, request: sync_pb2.GetMetadataRequest, context: Ctx
    ) -> sync_pb2.GetMetadataResponse:
        flags = self._services.flags
        metadata = {} if flags is None else dict(flags.flag_set_metadata(selector(context)))
        return sync_pb2.GetMetadataResponse(metadata=struct(metadata))
