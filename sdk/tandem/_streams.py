"""Streams over the sidecar's gRPC API (extra ``tandem-sdk[grpc]``): configuration
subscriptions and streaming topic subscriptions (no app port needed)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from tandem._types import ConfigurationItem
from tandem._wire import decode, field_bytes, field_map, field_varint
from tandem.app import CloudEvent, Status
from tandem.errors import InvalidArgument, TandemError

if TYPE_CHECKING:
    import grpc.aio

__all__ = ["TopicSubscription", "config_stream", "open_channel"]

_DAPR = "/dapr.proto.runtime.v1.Dapr/"
_VERDICT = {Status.SUCCESS: 0, Status.RETRY: 1, Status.DROP: 2}


def open_channel(address: str) -> grpc.aio.Channel:
    try:
        import grpc.aio
    except ImportError:
        raise InvalidArgument(
            "streaming calls need grpcio: pip install 'tandem-sdk[grpc]'"
        ) from None
    return grpc.aio.insecure_channel(address)


def _grpc_error(exc: Exception) -> TandemError:
    code = getattr(exc, "code", lambda: None)()
    details = getattr(exc, "details", lambda: str(exc))()
    return TandemError(0, str(getattr(code, "name", "") or ""), str(details or ""))


def _text(fields: dict[int, list[bytes | int]], number: int) -> str:
    values = fields.get(number)
    return bytes(values[-1]).decode() if values and isinstance(values[-1], bytes) else ""


def _str_map(entries: list[bytes | int]) -> dict[str, str]:
    out = {}
    for entry in entries:
        if isinstance(entry, bytes):
            kv = decode(entry)
            out[_text(kv, 1)] = _text(kv, 2)
    return out


async def config_stream(
    channel: grpc.aio.Channel,
    token: Mapping[str, str],
    store: str,
    keys: Sequence[str],
    metadata: Mapping[str, str],
) -> AsyncIterator[dict[str, ConfigurationItem]]:
    """Each change of the subscribed items (the stream's first, id-only message skipped)."""
    request = field_bytes(1, store) + b"".join(field_bytes(2, k) for k in keys)
    request += field_map(3, metadata)
    call = channel.unary_stream(
        _DAPR + "SubscribeConfiguration",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )(request, metadata=tuple(token.items()))
    try:
        async for raw in call:
            items: dict[str, ConfigurationItem] = {}
            for entry in decode(raw).get(2, []):
                if not isinstance(entry, bytes):
                    continue
                kv = decode(entry)
                raw_item = kv.get(2, [b""])[-1]
                item = decode(raw_item if isinstance(raw_item, bytes) else b"")
                items[_text(kv, 1)] = ConfigurationItem(
                    value=_text(item, 1), version=_text(item, 2), metadata=_str_map(item.get(3, []))
                )
            if items:
                yield items
    except asyncio.CancelledError:
        call.cancel()
        raise
    except Exception as exc:
        if type(exc).__name__ == "AioRpcError":
            raise _grpc_error(exc) from exc
        raise
    finally:
        call.cancel()


class TopicSubscription:
    """A streaming subscription: ``async for event in sub``, then ``await sub.respond(...)``.

    Every event must be answered (``Status.SUCCESS``, ``RETRY`` or ``DROP``) for the sidecar
    to settle it. ``async with`` opens the stream and closes it (and its channel).
    """

    def __init__(
        self,
        *,
        channel: grpc.aio.Channel,
        token: Mapping[str, str],
        pubsub: str,
        topic: str,
        metadata: Mapping[str, str],
        dead_letter_topic: str | None,
    ) -> None:
        self._channel = channel
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        initial = field_bytes(1, pubsub) + field_bytes(2, topic) + field_map(3, metadata)
        if dead_letter_topic:
            initial += field_bytes(4, dead_letter_topic)
        self._outbox.put_nowait(field_bytes(1, initial))
        self._call: Any = channel.stream_stream(
            _DAPR + "SubscribeTopicEventsAlpha1",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )(self._requests(), metadata=tuple(token.items()))

    async def _requests(self) -> AsyncIterator[bytes]:
        while (message := await self._outbox.get()) is not None:
            yield message

    async def __aenter__(self) -> Self:
        try:
            first = decode(await self._call.read())
        except Exception as exc:
            await self.close()
            raise _grpc_error(exc) from exc
        if 1 not in first:
            await self.close()
            raise TandemError(0, "", "the sidecar did not acknowledge the subscription")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._outbox.put_nowait(None)
        self._call.cancel()
        await self._channel.close(None)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> CloudEvent:
        import grpc.aio

        while True:
            raw = await self._call.read()
            if raw is grpc.aio.EOF:  # type: ignore[attr-defined]
                raise StopAsyncIteration
            message = decode(raw)
            if 2 in message and isinstance(message[2][-1], bytes):
                return _event(decode(message[2][-1]))

    async def respond(self, event: CloudEvent, status: Status = Status.SUCCESS) -> None:
        """Settle ``event``: SUCCESS, RETRY (delivered again) or DROP."""
        verdict = field_varint(1, _VERDICT[Status(status)])
        self._outbox.put_nowait(field_bytes(2, field_bytes(1, event.id) + field_bytes(2, verdict)))


def _event(f: dict[int, list[bytes | int]]) -> CloudEvent:
    data_values = f.get(7)
    data = bytes(data_values[-1]) if data_values and isinstance(data_values[-1], bytes) else b""
    ctype = _text(f, 5)
    value: Any = data
    media = ctype.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            value = json.loads(data)
        except ValueError:
            value = data
    elif media.startswith("text/"):
        value = data.decode("utf-8", "replace")
    return CloudEvent(
        id=_text(f, 1),
        source=_text(f, 2),
        type=_text(f, 3),
        topic=_text(f, 6),
        pubsub=_text(f, 8),
        data=value,
        data_content_type=ctype,
        specversion=_text(f, 4) or "1.0",
    )
