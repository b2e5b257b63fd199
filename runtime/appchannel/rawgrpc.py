"""A proxied gRPC call: raw message bytes both ways, whatever its kind, no proto decoding.

``RawCall`` is the one shape every leg of gRPC proxying speaks: the local app's call (``AppCall``,
over the app channel's gRPC connection) and the tunnel to a peer sidecar
(``runtime.internal.grpcproxy``). Every call is opened as stream-stream: on the wire unary and
streaming calls are the same, so one generic shape carries all four kinds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import grpc
from grpc import aio

__all__ = ["CODES", "AppCall", "Metadata", "RawCall", "Status", "forwarded_metadata"]

Metadata = tuple[tuple[str, str | bytes], ...]
Status = tuple[grpc.StatusCode, str, Metadata]
CODES = {code.value[0]: code for code in grpc.StatusCode}

# set by grpc itself on each hop, or meant for this sidecar only
_HOP = frozenset({"user-agent", "te", "content-type", "dapr-api-token", "dapr-app-id"})


def forwarded_metadata(metadata: Sequence[tuple[str, Any]] | None) -> Metadata:
    """The caller's metadata that travels on: no pseudo, ``grpc-*`` or hop keys."""
    out: list[tuple[str, str | bytes]] = []
    for key, value in metadata or ():
        k = key.lower()
        if k.startswith((":", "grpc-")) or k in _HOP or not isinstance(value, str | bytes):
            continue
        out.append((k, value))
    return tuple(out)


class RawCall(Protocol):
    async def write(self, message: bytes) -> None:
        """Send one request message; raises once the call has ended."""

    async def done_writing(self) -> None:
        """No more request messages (half-close)."""

    async def initial_metadata(self) -> Metadata:
        """The callee's response headers (empty when it answered with a status only)."""

    async def read(self) -> bytes | None:
        """The next response message; None once the callee sent its status."""

    async def status(self) -> Status:
        """Code, details and trailing metadata, once every response message has been read."""

    def cancel(self) -> None:
        """Abandon the call (the caller went away or its deadline passed)."""


class AppCall:
    """``RawCall`` over a grpc.aio stream-stream call to the app; ``release`` frees the app
    channel's concurrency slot once the call has ended."""

    def __init__(self, call: aio.StreamStreamCall[bytes, bytes], release: Callable[[], None]):
        self._call = call
        self._release = release

    async def write(self, message: bytes) -> None:
        await self._call.write(message)

    async def done_writing(self) -> None:
        await self._call.done_writing()

    async def initial_metadata(self) -> Metadata:
        try:
            got = await self._call.initial_metadata()
        except asyncio.CancelledError:
            if not self._call.cancelled() or _cancelling():
                raise
            return ()
        return forwarded_metadata(tuple(got or ()))

    async def read(self) -> bytes | None:
        try:
            message = await self._call.read()
        except asyncio.CancelledError:
            if not self._call.cancelled() or _cancelling():
                raise
            return None
        except aio.AioRpcError:
            return None  # the status says why
        if message is aio.EOF:  # type: ignore[attr-defined]
            return None
        return message  # type: ignore[return-value]

    async def status(self) -> Status:
        try:
            code = await self._call.code()
            details = await self._call.details()
            trailers = await self._call.trailing_metadata()
        finally:
            self._release()
        return code, details or "", _trailers(trailers)

    def cancel(self) -> None:
        self._call.cancel()
        self._release()


def _trailers(metadata: Any) -> Metadata:
    """Trailing metadata to pass on, ``grpc-status-details-bin`` (rich error details) kept."""
    out: list[tuple[str, str | bytes]] = []
    for key, value in tuple(metadata or ()):
        k = key.lower()
        if k == "grpc-status-details-bin" or not k.startswith((":", "grpc-")):
            out.append((k, value))
    return tuple(out)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
