"""gRPC proxying on the API port: the handler of last resort.

Registered after every real service, it takes a call to any other method that carries
``dapr-app-id`` metadata (without it: None, so grpc answers UNIMPLEMENTED as before) and relays
it, as raw bytes (identity (de)serializers), to that app's gRPC server through
``GrpcProxyService``: response headers, messages, trailers and status come back unchanged.
It goes through the API interceptor like every RPC (API token, error mapping, telemetry under
the method label ``/*``: ``Proxied``); a client that cancels, or whose deadline passes, cancels
the call upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import grpc
from grpc import aio

from runtime.api.grpc.interceptor import Proxied
from runtime.appchannel.rawgrpc import RawCall
from runtime.services.grpcproxy import GrpcProxyService
from runtime.services.invoke import APP_ID_HEADER

__all__ = ["ProxyHandler"]

Context = aio.ServicerContext[Any, Any]


def _app_id(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == APP_ID_HEADER and isinstance(value, str):
            return value
    return None


class ProxyHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    def __init__(self, proxy: GrpcProxyService) -> None:
        self._proxy = proxy

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        details: Any = handler_call_details
        if _app_id(details.invocation_metadata) is None:
            return None
        return Proxied(partial(self._relay, details.method), details.method)

    async def _relay(self, method: str, requests: AsyncIterator[bytes], context: Context) -> None:
        metadata = tuple(context.invocation_metadata() or ())
        target = _app_id(metadata) or ""
        call = await self._proxy.open(target, method, metadata, context.time_remaining())
        pump = asyncio.create_task(_forward(requests, call))
        try:
            await context.send_initial_metadata(await call.initial_metadata())
            while (message := await call.read()) is not None:
                await context.write(message)
            code, details, trailers = await call.status()
        except BaseException:
            call.cancel()
            raise
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        context.set_trailing_metadata(trailers)
        if code is not grpc.StatusCode.OK:
            context.set_code(code)
            context.set_details(details)


async def _forward(requests: AsyncIterator[bytes], call: RawCall) -> None:
    """The client's messages, then its half-close; stops quietly once the call has ended."""
    with contextlib.suppress(Exception):
        async for message in requests:
            await call.write(message)
        await call.done_writing()
