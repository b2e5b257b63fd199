"""gRPC proxying between sidecars: one gRPC call tunnelled over the internal HTTP/1.1 channel.

The same port, connection pool, mTLS and peer check as invocation (``client``/``server``),
chosen by measurement (``bench/invoke_grpcproxy.py``, README "Service invocation").

Request: ``POST /v1.0/internal/grpc/<pkg.Service>/<Method>`` with the identity headers of
invocation (``wire``), ``x-tandem-grpc-timeout`` (seconds left, when the call has a deadline),
and a chunked body of frames. Response: 200 and a body of frames; a refusal of the callee
sidecar before the call starts (access control, no gRPC app) is the ``x-tandem-error`` answer
of invocation, re-raised by the caller as the same error.

A frame is one kind byte, a 4-byte big-endian length and the payload:

- ``MESSAGE``: one gRPC message, its bytes as they are;
- ``METADATA``: msgpack list of ``[key, str | bytes]``: the request metadata (the caller's first
  frame), the app's response headers (the callee's first frame);
- ``HALF_CLOSE`` (caller): no more request messages. The request body itself stays open until
  the call ends, so its end or a broken connection before the status means "cancel";
- ``STATUS`` (callee): msgpack ``[code, details, trailing metadata]``, the last frame.

Flow control is HTTP's: a frame is written only once the previous one drained (bounded queues),
and a frame longer than ``max_frame`` is refused, so no stream is ever held whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from components.nameresolution import Address
from runtime.api.http.errors import error_response
from runtime.appchannel.base import InvokeRequest
from runtime.appchannel.rawgrpc import CODES, Metadata, RawCall, Status
from runtime.errors import APIError
from runtime.internal import tls, wire
from runtime.internal.client import PeerCallFailed, PeerUnreachable, _raise_remote
from runtime.security.gate import Gate

__all__ = ["PATH_PREFIX", "TIMEOUT", "FrameError", "TunnelClient", "TunnelServer"]

log = logging.getLogger("tandem.internal")

PATH_PREFIX = "/v1.0/internal/grpc/"
TIMEOUT = "x-tandem-grpc-timeout"
MESSAGE, METADATA, HALF_CLOSE, STATUS = 0, 1, 2, 3
_HEAD = struct.Struct(">BI")
_QUEUED = 4  # frames waiting for the socket, per direction
_LINGER = 5.0  # seconds the callee waits for the end of the request body after the status
_SAFE = "/%:@!$&'()*+,;=-._~"

OpenLocal = Callable[[str, Metadata, float | None], Awaitable[RawCall]]


class FrameError(ValueError):
    """Bytes that are not a well-formed frame of the expected kind."""


def frame(kind: int, payload: bytes = b"") -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


async def read_frame(reader: aiohttp.StreamReader, max_frame: int) -> tuple[int, bytes] | None:
    """The next frame; None at a clean end of the body. Raises FrameError, or the reader's
    own errors when the connection broke."""
    try:
        head = await reader.readexactly(_HEAD.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError("truncated frame header") from None
        return None
    kind, length = _HEAD.unpack(head)
    if kind > STATUS:
        raise FrameError(f"unknown frame kind {kind}")
    if length > max_frame:
        raise FrameError(f"frame of {length} bytes exceeds {max_frame}")
    try:
        return kind, await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError:
        raise FrameError("truncated frame") from None


def encode_metadata(metadata: Metadata) -> bytes:
    return msgspec.msgpack.encode([[k, v] for k, v in metadata])


def decode_metadata(payload: bytes) -> Metadata:
    try:
        return _pairs(msgspec.msgpack.decode(payload))
    except msgspec.DecodeError as exc:
        raise FrameError(f"bad metadata: {exc}") from None


def _pairs(pairs: object) -> Metadata:
    if not isinstance(pairs, list):
        raise FrameError("bad metadata: not a list")
    out: list[tuple[str, str | bytes]] = []
    for pair in pairs:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not isinstance(pair[0], str)
            or not isinstance(pair[1], str | bytes)
        ):
            raise FrameError("bad metadata: not [key, value] pairs")
        out.append((pair[0], pair[1]))
    return tuple(out)


def encode_status(status: Status) -> bytes:
    code, details, trailers = status
    return msgspec.msgpack.encode([code.value[0], details, [[k, v] for k, v in trailers]])


def decode_status(payload: bytes) -> Status:
    try:
        decoded = msgspec.msgpack.decode(payload)
    except msgspec.DecodeError as exc:
        raise FrameError(f"bad status: {exc}") from None
    if not isinstance(decoded, list) or len(decoded) != 3:
        raise FrameError("bad status")
    code, details, trailers = decoded
    if not isinstance(code, int) or code not in CODES or not isinstance(details, str):
        raise FrameError("bad status")
    return CODES[code], details, _pairs(trailers)


class _Outbox:
    """Frames for the request body, bounded; ``close`` ends the body."""

    def __init__(self, first: bytes) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUED + 1)
        self._queue.put_nowait(first)
        self.closed = False

    async def put(self, data: bytes) -> None:
        if self.closed:
            raise PeerCallFailed("the call has ended")
        await self._queue.put(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def body(self) -> AsyncIterator[bytes]:
        """The request body; a new one for each attempt (one whose connection failed read
        nothing)."""
        while (data := await self._queue.get()) is not None:
            yield data


class Tunnel:
    """``RawCall`` to a peer sidecar (the caller's side).

    The request starts at once and messages are sent as they are written, without waiting for
    the peer's answer (one round trip per unary call, not two). The first wait for the answer
    (``initial_metadata``, ``read``, ``status``) raises what starting it met: PeerUnreachable
    (no replica could be reached; nothing was sent), PeerCallFailed, or the peer's APIError
    (e.g. access denied)."""

    def __init__(
        self,
        start: Callable[[_Outbox], Coroutine[Any, Any, aiohttp.ClientResponse]],
        metadata: Metadata,
        max_frame: int,
    ) -> None:
        self._outbox = _Outbox(frame(METADATA, encode_metadata(metadata)))
        self._start = asyncio.create_task(start(self._outbox))
        self._response: aiohttp.ClientResponse | None = None
        self._max_frame = max_frame
        self._headers: Metadata | None = None
        self._status: Status | None = None

    async def write(self, message: bytes) -> None:
        await self._outbox.put(frame(MESSAGE, message))

    async def done_writing(self) -> None:
        await self._outbox.put(frame(HALF_CLOSE))

    async def _next(self) -> tuple[int, bytes]:
        if self._response is None:
            self._response = await self._start
        try:
            got = await read_frame(self._response.content, self._max_frame)
        except FrameError as exc:
            raise PeerCallFailed(f"the peer sidecar sent {exc}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise PeerCallFailed(f"reading from the peer sidecar: {exc}") from exc
        if got is None:
            raise PeerCallFailed("the peer sidecar ended the call without a status")
        return got

    async def initial_metadata(self) -> Metadata:
        if self._headers is None:
            kind, payload = await self._next()
            if kind == METADATA:
                self._headers = decode_or_fail(decode_metadata, payload)
            elif kind == STATUS:
                self._headers = ()
                self._end(payload)
            else:
                raise PeerCallFailed(f"the peer sidecar sent frame kind {kind} first")
        return self._headers

    async def read(self) -> bytes | None:
        await self.initial_metadata()
        if self._status is not None:
            return None
        kind, payload = await self._next()
        if kind == MESSAGE:
            return payload
        if kind == STATUS:
            self._end(payload)
            return None
        raise PeerCallFailed(f"the peer sidecar sent frame kind {kind} mid-stream")

    def _end(self, payload: bytes) -> None:
        self._status = decode_or_fail(decode_status, payload)
        self._outbox.close()  # the request body ends; the rest happens after the call
        if self._response is not None:
            task = asyncio.create_task(_recycle(self._response))
            _RECYCLING.add(task)
            task.add_done_callback(_RECYCLING.discard)

    async def status(self) -> Status:
        while self._status is None:
            await self.read()  # messages nobody read are dropped
        return self._status

    def cancel(self) -> None:
        self._outbox.close()
        if not self._start.done():
            self._start.cancel()
        elif self._response is None and not self._start.cancelled():
            if self._start.exception() is None:
                self._start.result().close()
        elif self._response is not None and self._status is None:
            self._response.close()  # a broken connection tells the peer to cancel


_RECYCLING: set[asyncio.Task[None]] = set()


async def _recycle(response: aiohttp.ClientResponse) -> None:
    """Return the connection to the pool once the response's end is read. The callee ends its
    response only after our request body has ended: aiohttp cancels a request body still being
    written when the response ends, and then closes the connection."""
    try:
        extra = await response.content.read(1)
    except (aiohttp.ClientError, OSError, RuntimeError):
        extra = b"?"
    if extra:  # not the end of a well-formed answer: never reuse that connection
        response.close()
    else:
        response.release()


def decode_or_fail(decode: Callable[[bytes], Any], payload: bytes) -> Any:
    try:
        return decode(payload)
    except FrameError as exc:
        raise PeerCallFailed(f"the peer sidecar sent {exc}") from None


class TunnelClient:
    """Opens proxied calls to peer sidecars over its own pooled keep-alive session."""

    def __init__(self, *, max_frame: int, limit: int = 1024, connect_timeout: float = 5.0):
        self._max_frame = max_frame
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # lazily: needs the running loop
            self._session = aiohttp.ClientSession(
                connector=tls.connector(limit=self._limit, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    def open(
        self,
        addresses: Sequence[Address],
        method: str,
        metadata: Metadata,
        identity: list[tuple[str, str]],
        seconds_left: float | None,
    ) -> Tunnel:
        """Start the call on the first of ``addresses`` that can be reached (nothing is sent to
        one that cannot, so the next is tried with the same request)."""
        headers = CIMultiDict(identity)
        if seconds_left is not None:
            headers[TIMEOUT] = f"{max(seconds_left, 0.0):.6f}"
        path = PATH_PREFIX + quote(method.lstrip("/"), safe=_SAFE)
        session = self._client()

        async def start(outbox: _Outbox) -> aiohttp.ClientResponse:
            failure: PeerUnreachable | None = None
            for address in addresses:
                url = URL(f"{tls.scheme()}://{address}{path}", encoded=True)
                try:
                    response = await session.post(
                        url, headers=headers, data=outbox.body(), chunked=True
                    )
                except aiohttp.ClientConnectorError as exc:
                    failure = PeerUnreachable(f"{address}: {exc.strerror or exc}")
                    continue
                except (aiohttp.ClientError, OSError) as exc:
                    raise PeerCallFailed(f"{address}: {str(exc) or type(exc).__name__}") from exc
                if wire.ERROR in response.headers:
                    outbox.close()
                    await _raise_remote(response)
                if response.status != 200:
                    outbox.close()
                    response.close()
                    raise PeerCallFailed(f"{address}: the peer sidecar answered {response.status}")
                return response
            outbox.close()
            raise failure or PeerUnreachable("no address")

        return Tunnel(start, metadata, self._max_frame)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class TunnelServer:
    """The callee side: admits a peer's call (mTLS identity, access control on the method
    path with no verb) and runs it against the local app with ``open_local``."""

    def __init__(self, open_local: OpenLocal, *, gate: Gate | None, max_frame: int) -> None:
        self._open_local = open_local
        self._gate = gate
        self._max_frame = max_frame

    def route(self) -> web.RouteDef:
        return web.post(PATH_PREFIX + "{method:.*}", self.handle)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        method = "/" + request.raw_path.split("?", 1)[0][len(PATH_PREFIX) :]
        timeout = _timeout(request.headers.get(TIMEOUT))
        invoke = InvokeRequest(
            method=method,
            verb=None,
            headers=tuple(
                (n.lower(), v) for n, v in request.headers.items() if n.lower() in _IDENTITY
            ),
            query="",
            body=b"",
        )
        try:
            if self._gate is not None:  # mTLS identity and access control
                invoke = self._gate.admit(request.transport, invoke)
            first = await read_frame(request.content, self._max_frame)
            if first is None or first[0] != METADATA:
                raise FrameError("the first frame must be the request metadata")
            metadata = (*_without_identity(decode_metadata(first[1])), *invoke.headers)
            call = await self._open_local(method, metadata, timeout)
        except APIError as err:
            response = error_response(err)
            response.headers[wire.ERROR] = err.kind.name  # the calling sidecar re-raises it
            return response
        except FrameError as exc:
            return web.Response(status=400, text=str(exc))
        return await self._run(request, call)

    async def _run(self, request: web.BaseRequest, call: RawCall) -> web.StreamResponse:
        handler = asyncio.current_task()
        finished = False

        async def requests() -> None:
            """Request frames into the call; a caller gone before the status cancels it."""
            half_closed = False
            try:
                while (got := await read_frame(request.content, self._max_frame)) is not None:
                    kind, payload = got
                    if kind == MESSAGE and not half_closed:
                        await call.write(payload)
                    elif kind == HALF_CLOSE and not half_closed:
                        half_closed = True
                        await call.done_writing()
                    else:
                        raise FrameError(f"unexpected frame kind {kind}")
            except (FrameError, OSError, aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
                log.debug("proxied call %s: request stream ended: %s", request.path, exc)
            except Exception:  # the app call ended: its status tells
                return
            if not finished and handler is not None:
                handler.cancel()  # the caller went away

        response = web.StreamResponse(status=200)
        response.content_type = "application/octet-stream"
        pump: asyncio.Task[None] | None = None
        try:
            await response.prepare(request)
            pump = asyncio.create_task(requests())
            await response.write(frame(METADATA, encode_metadata(await call.initial_metadata())))
            while (message := await call.read()) is not None:
                await response.write(frame(MESSAGE, message))
            status = await call.status()
            finished = True
            await response.write(frame(STATUS, encode_status(status)))
            # the caller ends its request body on our status: only then do we end the response,
            # so the connection can be reused (see ``_recycle``)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pump), _LINGER)
            await response.write_eof()
        except (ConnectionResetError, aiohttp.ClientConnectionResetError) as exc:
            call.cancel()  # the caller went away mid-call
            log.debug("proxied call %s: the caller went away: %s", request.path, exc)
        except BaseException:
            call.cancel()
            raise
        finally:
            finished = True
            if pump is not None:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
        return response


_IDENTITY = wire.IDENTITY_HEADERS - {wire.VERB, wire.DATA_TYPE}


def _without_identity(metadata: Metadata) -> Metadata:
    """Identity keys are the sidecars' to set: whatever the caller sent under them is dropped."""
    return tuple((k, v) for k, v in metadata if k.lower() not in _IDENTITY)


def _timeout(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return min(max(value, 0.0), 10 * 365 * 86400.0) if math.isfinite(value) else None
