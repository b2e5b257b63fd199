"""Pub/sub RPCs of ``dapr.proto.runtime.v1.Dapr`` (publishing; streaming subscriptions)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from google.protobuf import empty_pb2

from protos.dapr.runtime.v1 import dapr_pb2_grpc, pubsub_pb2
from runtime.api.grpc.rpcs import EMPTY, BlockRpcs, Ctx
from runtime.appchannel.base import AppSubscription, DeliveryStatus, TopicRule
from runtime.appchannel.grpc import topic_event_request
from runtime.errors import Errors
from runtime.services.pubsub import BulkPublishEntry
from runtime.services.pubsub_stream import StreamSink

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

    async def SubscribeTopicEventsAlpha1(
        self,
        request_iterator: AsyncIterator[pubsub_pb2.SubscribeTopicEventsRequestAlpha1],
        context: Ctx,
    ) -> AsyncIterator[pubsub_pb2.SubscribeTopicEventsResponseAlpha1]:
        manager = self._services.subscriptions
        if manager is None:
            raise Errors.INTERNAL()
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("initial_request"):
            raise Errors.MALFORMED_REQUEST(
                detail="the first message must be an initial_request naming pubsub and topic"
            )
        init = first.initial_request
        spec = AppSubscription(
            pubsub_name=init.pubsub_name,
            topic=init.topic,
            rules=(TopicRule("", ""),),
            metadata=dict(init.metadata),
            dead_letter_topic=init.dead_letter_topic,
        )
        sink = StreamSink()
        active = await manager.open_stream(spec, sink)
        replies = asyncio.create_task(_settle(request_iterator, sink))
        try:
            yield pubsub_pb2.SubscribeTopicEventsResponseAlpha1(
                initial_response=pubsub_pb2.SubscribeTopicEventsResponseInitialAlpha1()
            )
            while True:
                event = asyncio.ensure_future(sink.next())
                await asyncio.wait({event, replies}, return_when=asyncio.FIRST_COMPLETED)
                if not event.done():  # the client closed its side: the stream is over
                    event.cancel()
                    return
                yield pubsub_pb2.SubscribeTopicEventsResponseAlpha1(
                    event_message=topic_event_request(event.result())
                )
        finally:
            sink.close()
            replies.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await replies
            await manager.close_stream(active)


_STATUS = {
    0: DeliveryStatus.SUCCESS,
    1: DeliveryStatus.RETRY,
    2: DeliveryStatus.DROP,
}


async def _settle(
    requests: AsyncIterator[pubsub_pb2.SubscribeTopicEventsRequestAlpha1], sink: StreamSink
) -> None:
    """Feed the client's ``event_processed`` replies to the sink until it closes its side."""
    async for request in requests:
        if request.HasField("event_processed"):
            processed = request.event_processed
            sink.settle(processed.id, _STATUS.get(processed.status.status, DeliveryStatus.RETRY))
