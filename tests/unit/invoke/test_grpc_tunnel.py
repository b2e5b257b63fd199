"""The gRPC proxying tunnel between sidecars (``runtime.internal.grpcproxy``): a real aiohttp
server and client on loopback (cleartext, no gate), an echo standing in for the app; frames
that are garbage never crash it, and it keeps serving."""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp import web

from components.nameresolution import Address
from runtime.appchannel.rawgrpc import Metadata, Status
from runtime.internal.grpcproxy import (
    HALF_CLOSE,
    MESSAGE,
    METADATA,
    PATH_PREFIX,
    FrameError,
    TunnelClient,
    TunnelServer,
    decode_metadata,
    decode_status,
    encode_metadata,
    encode_status,
    frame,
)

MAX_FRAME = 1 << 16


class Echo:
    """A ``RawCall`` answering each message with itself, trailer ``x-n`` = message count."""

    def __init__(self, metadata: Metadata) -> None:
        self.metadata = metadata
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._count = 0

    async def write(self, message: bytes) -> None:
        self._count += 1
        await self._queue.put(message)

    async def done_writing(self) -> None:
        await self._queue.put(None)

    async def initial_metadata(self) -> Metadata:
        return self.metadata

    async def read(self) -> bytes | None:
        return await self._queue.get()

    async def status(self) -> Status:
        return grpc.StatusCode.OK, "", (("x-n", str(self._count)),)

    def cancel(self) -> None:
        pass


@pytest.fixture
async def server() -> AsyncIterator[int]:
    async def open_local(method: str, metadata: Metadata, seconds_left: float | None) -> Echo:
        return Echo(metadata)

    app = web.Application()
    app.router.add_routes([TunnelServer(open_local, gate=None, max_frame=MAX_FRAME).route()])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield int(runner.addresses[0][1])
    await runner.cleanup()


async def _echo(client: TunnelClient, port: int, messages: list[bytes]) -> tuple[Any, ...]:
    tunnel = client.open(
        [Address("127.0.0.1", port)], "/a.B/C", (("k", "v"), ("k-bin", b"\x00")), [], 5.0
    )
    for message in messages:
        await tunnel.write(message)
    await tunnel.done_writing()
    headers = await tunnel.initial_metadata()
    replies = []
    while (reply := await tunnel.read()) is not None:
        replies.append(reply)
    return headers, replies, await tunnel.status()


async def test_round_trip_and_connection_reuse(server: int) -> None:
    client = TunnelClient(max_frame=MAX_FRAME)
    try:
        for _ in range(5):
            headers, replies, status = await _echo(client, server, [b"a", b"", b"c" * 60000])
            assert headers == (("k", "v"), ("k-bin", b"\x00"))
            assert replies == [b"a", b"", b"c" * 60000]
            assert status == (grpc.StatusCode.OK, "", (("x-n", "3"),))
    finally:
        await client.aclose()


async def test_an_unreachable_replica_is_skipped(server: int) -> None:
    client = TunnelClient(max_frame=MAX_FRAME)
    dead = Address("127.0.0.1", 1)
    try:
        tunnel = client.open([dead, Address("127.0.0.1", server)], "/a.B/C", (), [], None)
        await tunnel.write(b"x")
        await tunnel.done_writing()
        assert await tunnel.read() == b"x"
        assert (await tunnel.status())[0] == grpc.StatusCode.OK
    finally:
        await client.aclose()


def _garbage(rng: random.Random) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return rng.randbytes(rng.randrange(1, 64))
    if choice == 1:  # a length far beyond the limit
        return struct.pack(">BI", MESSAGE, 0xFFFFFFFF)
    if choice == 2:  # an unknown kind
        return struct.pack(">BI", 9, 0)
    if choice == 3:  # metadata that does not decode
        return frame(METADATA, rng.randbytes(16))
    if choice == 4:  # a truncated frame
        return frame(METADATA, encode_metadata(())) + struct.pack(">BI", MESSAGE, 10) + b"abc"
    return frame(METADATA, encode_metadata(())) + frame(HALF_CLOSE) + frame(MESSAGE, b"late")


async def test_garbage_frames_never_crash_the_callee(server: int) -> None:
    rng = random.Random(20261202)
    url = f"http://127.0.0.1:{server}{PATH_PREFIX}a.B/C"
    async with aiohttp.ClientSession() as session:
        for _ in range(60):
            try:
                async with session.post(url, data=_garbage(rng)) as response:
                    assert response.status in (200, 400)
                    await response.read()
            except aiohttp.ClientPayloadError:
                pass  # the callee dropped a call whose request it could not read
    client = TunnelClient(max_frame=MAX_FRAME)
    try:
        _, replies, _ = await _echo(client, server, [b"still here"])
        assert replies == [b"still here"]
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xc1", b"\x91\x01", b"\x91\x92\x01\x02", b"\x92\xa1k\xa1v", b"\xff" * 8],
)
def test_bad_metadata_is_a_frame_error(payload: bytes) -> None:
    with pytest.raises(FrameError):
        decode_metadata(payload)


BAD_STATUS = [
    b"",
    b"\x93\x63\xa0\x90",  # no such code
    b"\x93\x00\x01\x90",  # details not a string
    b"\x92\x00\xa0",  # two fields
    b"\x93\x00\xa0\x91\x01",  # trailers not pairs
]


@pytest.mark.parametrize("payload", BAD_STATUS)
def test_bad_status_is_a_frame_error(payload: bytes) -> None:
    with pytest.raises(FrameError):
        decode_status(payload)


def test_status_round_trip() -> None:
    status = (grpc.StatusCode.NOT_FOUND, "nope", (("x", "1"), ("y-bin", b"\x00\xff")))
    assert decode_status(encode_status(status)) == status
