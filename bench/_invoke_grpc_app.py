"""The gRPC app behind ``bench/invoke_grpc.py`` (port argv[1]), grpc.aio on uvloop, raw bytes:

- ``/bench.Echo/Unary``: answers the request's bytes;
- ``/bench.Echo/Bidi``: echoes each message as it arrives;
- ``/dapr.proto.runtime.v1.AppCallback/OnInvoke`` (for ``InvokeService``): answers 100 bytes.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import uvloop
from grpc import aio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from protos.dapr.common.v1 import common_pb2

REPLY = common_pb2.InvokeResponse(content_type="text/plain")
REPLY.data.value = b"h" * 100
REPLY_BYTES = REPLY.SerializeToString()


async def unary(request: bytes, context: Any) -> bytes:
    return request


async def bidi(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for message in requests:
        yield message


async def on_invoke(request: bytes, context: Any) -> bytes:
    return REPLY_BYTES


async def main() -> None:
    server = aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "bench.Echo",
                {
                    "Unary": grpc.unary_unary_rpc_method_handler(unary),
                    "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
                },
            ),
            grpc.method_handlers_generic_handler(
                "dapr.proto.runtime.v1.AppCallback",
                {"OnInvoke": grpc.unary_unary_rpc_method_handler(on_invoke)},
            ),
        )
    )
    server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    uvloop.run(main())
