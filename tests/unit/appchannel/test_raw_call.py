"""A proxied call's status is the app's own (``AppCall``), also when request messages race the
app's end of the call: grpc.aio then records a stand-in INTERNAL "Internal error from Core" for
the failed write, which must never reach the caller."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc import aio

from runtime.appchannel.base import CallGate
from runtime.appchannel.grpc import GrpcAppChannel
from runtime.status import RuntimeStatus

Context = aio.ServicerContext[Any, Any]


async def _abort(requests: AsyncIterator[bytes], context: Context) -> None:
    await context.abort(grpc.StatusCode.NOT_FOUND, "nope", (("x-why", "because"),))


@pytest.fixture
async def channel() -> AsyncIterator[GrpcAppChannel]:
    """An app serving only ``/x.Y/Abort`` (ends the call at once, without reading)."""
    server = aio.server()
    handlers = {"Abort": grpc.stream_stream_rpc_method_handler(_abort)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("x.Y", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    gate = CallGate(status=RuntimeStatus(), health_checked=False, max_concurrency=-1)
    yield GrpcAppChannel(host="127.0.0.1", port=port, gate=gate)
    await server.stop(0)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("/x.Y/Missing", (grpc.StatusCode.UNIMPLEMENTED, "Method not found!", ())),
        ("/x.Y/Abort", (grpc.StatusCode.NOT_FOUND, "nope", (("x-why", "because"),))),
    ],
)
async def test_the_apps_status_survives_writes_after_its_end(
    channel: GrpcAppChannel, method: str, expected: tuple[Any, ...]
) -> None:
    for _ in range(20):  # the race is timing-dependent: many calls hit both of its orders
        call = await channel.open_raw(method, (), 5.0)
        for _ in range(5):
            with contextlib.suppress(Exception):  # writes after the app's end fail
                await call.write(b"x" * 1000)
        with contextlib.suppress(Exception):
            await call.done_writing()
        assert await call.read() is None
        assert await call.status() == expected
