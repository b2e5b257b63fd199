"""The sink of a streaming subscription (gRPC ``SubscribeTopicEventsAlpha1``).

The API adapter pumps ``next()`` into its response stream and feeds the client's
``event_processed`` replies to ``settle``. A delivery waits for the reply carrying its event id;
once the stream ends (``close``) every waiting and later delivery fails as if the app were
unavailable, so the message is retried or left to the broker, never acknowledged.
"""

from __future__ import annotations

import asyncio
from collections import deque

from runtime.appchannel.base import (
    AppUnavailable,
    BulkTopicEvent,
    DeliveryStatus,
    TopicEvent,
)

__all__ = ["StreamSink"]


class StreamSink:
    def __init__(self, max_pending: int = 64) -> None:
        self._out: asyncio.Queue[TopicEvent] = asyncio.Queue(max_pending)
        self._waiting: dict[str, deque[asyncio.Future[DeliveryStatus]]] = {}
        self._closed = False

    async def deliver_event(self, event: TopicEvent) -> DeliveryStatus:
        if self._closed:
            raise AppUnavailable
        event_id = str(event.cloud_event.get("id", ""))
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(event_id, deque()).append(future)
        try:
            await self._out.put(event)
            status: DeliveryStatus = await future
            return status
        finally:
            waiting = self._waiting.get(event_id)
            if waiting is not None and future in waiting:
                waiting.remove(future)
            if not waiting:
                self._waiting.pop(event_id, None)

    async def deliver_bulk(self, event: BulkTopicEvent) -> dict[str, DeliveryStatus]:
        """A stream takes events one at a time: each entry is delivered on its own."""
        statuses: dict[str, DeliveryStatus] = {}
        for entry in event.entries:
            if isinstance(entry.event, bytes):
                statuses[entry.entry_id] = DeliveryStatus.DROP
                continue
            statuses[entry.entry_id] = await self.deliver_event(
                TopicEvent(
                    pubsub_name=event.pubsub_name,
                    topic=event.topic,
                    path=event.path,
                    cloud_event=entry.event,
                    metadata=entry.metadata,
                )
            )
        return statuses

    async def next(self) -> TopicEvent:
        return await self._out.get()

    def settle(self, event_id: str, status: DeliveryStatus) -> bool:
        """Resolve the oldest delivery waiting for ``event_id``; False if none waits."""
        for future in self._waiting.get(event_id, ()):
            if not future.done():
                future.set_result(status)
                return True
        return False

    def close(self) -> None:
        self._closed = True
        for waiting in self._waiting.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(AppUnavailable())
