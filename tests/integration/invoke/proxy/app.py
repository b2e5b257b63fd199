"""A plain grpc.aio server of ``tandemtest.Echo`` on port argv[1] (generated code in argv[2]).

- ``Unary``: answers the request metadata as JSON in ``text`` (``-bin`` values hex), with the
  response header ``x-head: h1`` and the trailer ``x-trail: t1``; text ``fail`` aborts with
  NOT_FOUND, details ``nope``, a ``google.rpc`` ErrorInfo and trailer ``x-why: because``; text
  ``hang`` waits until cancelled, then touches ``argv[3]/cancelled-<count>``;
- ``ServerStream``: ``count`` messages ``text-<i>``; with text ``hang`` one message, then as
  ``Unary``'s ``hang``;
- ``ClientStream``: the texts joined with ``+`` and the blobs' total length in ``count``;
- ``Bidi``: each message echoed as it arrives (``blob`` included);
- ``Secret``: answers ``secret`` (the callee's accessControl denies it to the caller).

Exits when its parent goes away.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from tests.integration.invoke.proxy.stubs import load

pb, pb_grpc = load(Path(sys.argv[2]))
MARKS = Path(sys.argv[3])
Context = grpc.aio.ServicerContext[Any, Any]


def _metadata(context: Context) -> str:
    out: dict[str, str] = {}
    for key, value in context.invocation_metadata() or ():
        out[key] = value.hex() if isinstance(value, bytes) else value
    return json.dumps(out)


async def _hang(request: Any) -> None:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        (MARKS / f"cancelled-{request.count}").touch()
        raise


class Echo(pb_grpc.EchoServicer):  # type: ignore[misc,name-defined]
    async def Unary(self, request: Any, context: Context) -> Any:
        if request.text == "fail":
            info = any_pb2.Any()
            info.Pack(error_details_pb2.ErrorInfo(reason="NOPE", domain="test"))
            status = status_pb2.Status(code=grpc.StatusCode.NOT_FOUND.value[0], message="nope")
            status.details.append(info)
            details = status.SerializeToString()
            trailers = (("x-why", "because"), ("grpc-status-details-bin", details))
            await context.abort(grpc.StatusCode.NOT_FOUND, "nope", trailers)
        if request.text == "hang":
            await _hang(request)
        await context.send_initial_metadata((("x-head", "h1"),))
        context.set_trailing_metadata((("x-trail", "t1"),))
        return pb.Msg(text=_metadata(context), blob=request.blob)

    async def ServerStream(self, request: Any, context: Context) -> AsyncIterator[Any]:
        if request.text == "hang":
            yield pb.Msg(text="first")
            await _hang(request)
        for i in range(request.count):
            yield pb.Msg(text=f"{request.text}-{i}")

    async def ClientStream(self, requests: AsyncIterator[Any], context: Context) -> Any:
        texts, size = [], 0
        async for request in requests:
            texts.append(request.text)
            size += len(request.blob)
        return pb.Msg(text="+".join(texts), count=size)

    async def Bidi(self, requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        async for request in requests:
            yield pb.Msg(text=request.text, blob=request.blob)

    async def Secret(self, request: Any, context: Context) -> Any:
        return pb.Msg(text="secret")


async def main() -> None:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 16 << 20),
        ]
    )
    pb_grpc.add_EchoServicer_to_server(Echo(), server)
    server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
    await server.start()
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 (polls for the parent's death)
        await asyncio.sleep(0.5)
    await server.stop(0)


if __name__ == "__main__":
    asyncio.run(main())
