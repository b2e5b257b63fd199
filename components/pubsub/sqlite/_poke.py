"""Wake-ups between processes sharing one file: a datagram per commit, no busy polling.

Each component instance binds one UDP socket on 127.0.0.1 (an ephemeral port) and registers it,
per subscribed topic, in ``pubsub_listeners``. A publisher, after its commit, sends the topic's
name to each registered port; the receiver wakes its subscriptions on that topic, which then
claim from the database. A datagram is only a hint: a lost one (or a listener in another network
namespace) costs at most one safety poll interval. Any local process can send one; the worst it
can do is make a subscription look at the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["Poker"]

_ADDRESS = "127.0.0.1"
_MAX_NAME = 1024  # longer topic names are sent empty: "look at every topic"


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_topic: Callable[[str | None], None]) -> None:
        self._on_topic = on_topic

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._on_topic(data.decode("utf-8", "replace") if data else None)

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. a port that closed since it was registered: harmless


class Poker:
    def __init__(self, on_topic: Callable[[str | None], None]) -> None:
        self._on_topic = on_topic
        self._transport: asyncio.DatagramTransport | None = None
        self.port = 0

    async def open(self) -> None:
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Protocol(self._on_topic), local_addr=(_ADDRESS, 0)
        )
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])

    def poke(self, topic: str, ports: list[int]) -> None:
        """Tell ``ports`` that ``topic`` has news (our own port is woken directly)."""
        transport = self._transport
        payload = topic.encode()
        if len(payload) > _MAX_NAME:
            payload = b""
        for port in ports:
            if port == self.port:
                self._on_topic(topic)
            elif transport is not None:
                transport.sendto(payload, (_ADDRESS, port))

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
