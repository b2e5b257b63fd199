"""A proxied gRPC call: raw message bytes both ways, whatever its kind, no proto decoding.

``RawCall`` is the one shape every leg of gRPC proxying speaks: the local app's call (``AppCall``,
over the app channel's gRPC connection) and the tunnel to a peer sidecar
(``runtime.internal.grpcproxy``). Every call is opened as stream-stream: on the wire unary and
streaming calls are the same, so one generic shape carries all four kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
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


# What grpc.aio records as a call's status when a write fails in its core (``_write``): the
# app having ended the call (e.g. UNIMPLEMENTED) while a request message was on its way. The
# app's own status was recorded just before (and is overwritten), or still arrives after.
_STAND_IN = (grpc.StatusCode.INTERNAL, "Internal error from Core")
_REAL_STATUS_WAIT = 5.0  # seconds; the app's status is already on its way


class AppCall:
    """``RawCall`` over a grpc.aio stream-stream call to the app; ``release`` frees the app
    channel's concurrency slot once the call has ended. Its status is the app's own, also when
    a request message raced the app's end of the call (grpc's stand-in status is skipped)."""

    def __init__(self, call: aio.StreamStreamCall[bytes, bytes], release: Callable[[], None]):
        self._call = call
        self._release = release
        self._stand_in = False  # a write failed and grpc recorded its stand-in status
        self._recorded: list[Status] = []  # the statuses grpc recorded, in order
        self._arrived = asyncio.Event()
        call.add_done_callback(self._record)

    def _record(self, call: Any) -> None:
        """grpc's done callback: keeps the status it just recorded, as the stand-in may
        overwrite it. Runs inside grpc: never raises."""
        try:
            code, details = _now(call.code()), _now(call.details()) or ""
            self._recorded.append((code, details, _trailers(_now(call.trailing_metadata()))))
        except Exception:  # noqa: S110 (not readable at once: status() reads the call's own)
            pass
        self._arrived.set()

    async def write(self, message: bytes) -> None:
        try:
            await self._call.write(message)
        except aio.AioRpcError as exc:
            if (exc.code(), exc.details()) == _STAND_IN:
                self._stand_in = True
            raise

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
            if self._stand_in and (code, details) == _STAND_IN:
                real = await self._real_status()
                if real is not None:
                    return real
        finally:
            self._release()
        return code, details or "", _trailers(trailers)

    async def _real_status(self) -> Status | None:
        """The app's status that a failed write hid: recorded before grpc's stand-in replaced
        it, or the next one; None if none comes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_REAL_STATUS_WAIT):
                while True:
                    real = [s for s in self._recorded if s[:2] != _STAND_IN]
                    if real:
                        return real[-1]
                    self._arrived.clear()
                    await self._arrived.wait()
        return None

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


def _now(awaitable: Any) -> Any:
    """The result of a grpc status getter of a call that has a status: it completes without
    suspending, so it can be read inside grpc's done callback."""
    steps = awaitable.__await__()
    try:
        steps.send(None)
    except StopIteration as done:
        return done.value
    steps.close()
    raise RuntimeError("not ready")


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
