"""Build and run the gRPC API server inside the runtime's event loop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grpc import aio

from protos.dapr.runtime.v1 import dapr_pb2_grpc
from protos.tandem.v1 import tandem_pb2_grpc
from runtime.api.grpc.interceptor import ApiInterceptor
from runtime.api.grpc.servicer import DaprService, TandemService
from runtime.services.metadata import MetadataService
from runtime.services.state import StateService
from runtime.status import RuntimeStatus

__all__ = ["GrpcServer"]


class GrpcServer:
    """Interceptors run in order: ``extra`` (telemetry) outermost, then the API interceptor."""

    def __init__(
        self,
        *,
        state: StateService,
        metadata: MetadataService,
        status: RuntimeStatus,
        addresses: Sequence[str],
        port: int,
        max_message_size: int,
        api_token: str | None = None,
        extra_interceptors: Sequence[aio.ServerInterceptor[Any, Any]] = (),
    ) -> None:
        options = [
            ("grpc.max_receive_message_length", max_message_size),
            ("grpc.max_send_message_length", max_message_size),
            ("grpc.so_reuseport", 0),
            # Slow or silent clients (see README "Limits and timeouts"): a connection must finish
            # the HTTP/2 handshake within 10 s; one without RPCs for 5 min gets GOAWAY; a peer
            # that does not answer a keepalive ping (sent after 60 s of silence) within 20 s is
            # dropped; at most 100 concurrent calls per connection.
            ("grpc.server_handshake_timeout_ms", 10_000),
            ("grpc.max_connection_idle_ms", 300_000),
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
            ("grpc.max_concurrent_streams", 100),
        ]
        self._server = aio.server(
            interceptors=[*extra_interceptors, ApiInterceptor(api_token=api_token)],
            options=options,
        )
        dapr_pb2_grpc.add_DaprServicer_to_server(
            DaprService(state=state, metadata=metadata, status=status), self._server
        )
        tandem_pb2_grpc.add_TandemServicer_to_server(TandemService(state=state), self._server)
        self._addresses = addresses
        self._port = port

    async def start(self) -> None:
        for address in self._addresses:
            host = f"[{address}]" if ":" in address else address
            try:
                bound = self._server.add_insecure_port(f"{host}:{self._port}")
            except RuntimeError as exc:
                raise OSError(
                    f"cannot listen on {address}:{self._port} for the gRPC API: {exc}"
                ) from exc
            if bound == 0:
                raise OSError(
                    f"cannot listen on {address}:{self._port} for the gRPC API: address in use"
                )
        await self._server.start()

    async def stop(self, grace: float) -> None:
        await self._server.stop(grace)
