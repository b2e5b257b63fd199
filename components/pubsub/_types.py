"""Messages exchanged between the pub/sub service and brokers.

``data`` is opaque bytes: the runtime has already built the CloudEvent envelope (or not, for
``rawPayload``); a component stores and returns the bytes unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Ack", "BulkHandler", "BulkMessage", "Handler", "Message"]

_EMPTY: Mapping[str, str] = {}


class Ack(StrEnum):
    """A handler's decision on one message.

    ACK: settled for good (the app answered SUCCESS or DROP, or the message reached the
    dead-letter topic); the component acknowledges it to the broker. NACK: not settled; the
    broker redelivers it later to the same consumer group. A handler exception means NACK.
    """

    ACK = "ack"
    NACK = "nack"


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One received message. ``id`` is unique among the messages in flight on one subscription
    (a broker id, or generated); ``metadata`` is what the publisher or broker attached."""

    id: str
    topic: str
    data: bytes
    content_type: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkMessage:
    """One entry of a bulk publish; ``entry_id`` is unique within the request."""

    entry_id: str
    data: bytes
    content_type: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


Handler = Callable[[Message], Awaitable[Ack]]
# A bulk handler answers every message id of the batch; a missing id means NACK.
BulkHandler = Callable[[Sequence[Message]], Awaitable[Mapping[str, Ack]]]
