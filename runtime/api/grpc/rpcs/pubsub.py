"""Pub/sub RPCs of ``dapr.proto.runtime.v1.Dapr`` (publishing; streaming subscriptions)."""

from __future__ import annotations

from google.protobuf import empty_pb2

from protos.dapr.runtime.v1 import dapr_pb2_grpc, pubsub_pb2
from runtime.api.grpc.rpcs import EMPTY, BlockRpcs, Ctx
from runtime.services.pubsub import BulkPublishEntry

__all__ = ["PubSubRpcs"]


class PubSubRpcs(BlockRpcs, dapr_pb2_grpc.DaprServicer):
    async def PublishEvent(
        self, request: pubsub_pb2.PublishEventRequest, context: Ctx
    ) -> empty_pb2.Empty:
        await self._services.pubsub.publish(
            request.pubsub_name,
            request.topic,
            request.data,
            content_type=request.data_content_type,
            metadata=dict(request.metadata),
        )
        return EMPTY

    async def BulkPublishEvent(
        self, request: pubsub_pb2.BulkPublishRequest, context: Ctx
    ) -> pubsub_pb2.BulkPublishResponse:
        failed = await self._services.pubsub.bulk_publish(
            request.pubsub_name,
            request.topic,
            [
                BulkPublishEntry(
                    entry_id=e.entry_id,
                    event=e.event,
                    content_type=e.content_type,
                    metadata=dict(e.metadata),
                )
                for e in request.entries
            ],
            metadata=dict(request.metadata),
        )
        return pubsub_pb2.BulkPublishResponse(
            failedEntries=[
                pubsub_pb2.BulkPublishResponseFailedEntry(entry_id=f.entry_id, error=f.error)
                for f in failed
            ]
        )

    async def BulkPublishEventAlpha1(
        self, request: pubsub_pb2.BulkPublishRequest, context: Ctx
    ) -> pubsub_pb2.BulkPublishResponse:
        return await self.BulkPublishEvent(request, context)
