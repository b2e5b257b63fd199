"""Build and run the gRPC API server inside the runtime's event loop."""

from __future__ import annotations

from collections.abc import Sequence

from grpc import aio

from runtime.api.blocks import BLOCKS, Block
from runtime.api.grpc.interceptor import ApiInterceptor
from runtime.api.grpc.servicer import add_servicers
from runtime.observability.grpc_telemetry import GrpcTelemetry
from runtime.services import Services

__all__ = ["GrpcServer"]


class GrpcServer:
    """Serves every block's RPCs (``blocks``) over ``services``, through one interceptor
    (``ApiInterceptor``: ``telemetry``, the API token, decoding, error mapping). ``stop``
    drains: grpc itself lets the calls in flight finish within the grace period."""

    def __init__(
        self,
        *,
        services: Services,
        addresses: Sequence[str],
        port: int,
        max_message_size: int,
        api_token: str | None = None,
        telemetry: GrpcTelemetry | None = None,
        blocks: Sequence[Block] = BLOCKS,
        extra_ports: Sequence[tuple[int, str]] = (),
    ) -> None:
        """``extra_ports``: more (port, flag name) listeners serving the same services."""
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
            interceptors=[ApiInterceptor(api_token=api_token, telemetry=telemetry)],
            options=options,
        )
        add_servicers(self._server, services, blocks)
        if services.grpc_proxy is not None:  # after the real services: the last resort
            from runtime.api.grpc.proxy import ProxyHandler

            self._server.add_generic_rpc_handlers((ProxyHandler(services.grpc_proxy),))
        self._addresses = addresses
        self._ports = [(port, "the gRPC API"), *extra_ports]

    async def start(self) -> None:
        for port, what in self._ports:
            for address in self._addresses:
                host = f"[{address}]" if ":" in address else address
                try:
                    bound = self._server.add_insecure_port(f"{host}:{port}")
                except RuntimeError as exc:
                    raise OSError(f"cannot listen on {address}:{port} for {what}: {exc}") from exc
                if bound == 0:
                    raise OSError(f"cannot listen on {address}:{port} for {what}: address in use")
        await self._server.start()

    async def stop(self, grace: float) -> None:
        """Stop serving; RPCs in flight get up to ``grace`` s (0: cancelled at once)."""
        await self._server.stop(grace)
