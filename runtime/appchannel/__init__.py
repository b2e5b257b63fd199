"""The channel from the sidecar to the app: calls into it, event delivery, health and readiness.

``build_app_channel`` picks the implementation for ``--app-protocol``; the contract and the
domain types are in ``runtime.appchannel.base``.
"""

from __future__ import annotations

from runtime.appchannel.base import AppChannel, CallGate
from runtime.config import AppProtocol, SidecarConfig
from runtime.status import RuntimeStatus

__all__ = ["build_app_channel"]

_DEFAULT_CONNECTIONS = 256  # pooled connections to the app when concurrency is unlimited


async def build_app_channel(config: SidecarConfig, status: RuntimeStatus) -> AppChannel | None:
    """The channel for the configured app, or None without ``--app-port`` (no app channel, as
    in Dapr). Nothing connects until the first call."""
    if config.app_port is None:
        return None
    gate = CallGate(
        status=status,
        health_checked=config.enable_app_health_check,
        max_concurrency=config.app_max_concurrency,
    )
    host, port = config.app_channel_address, config.app_port
    if config.app_protocol in (AppProtocol.GRPC, AppProtocol.GRPCS):
        from runtime.appchannel.grpc import GrpcAppChannel

        return GrpcAppChannel(
            host=host,
            port=port,
            gate=gate,
            app_token=config.app_api_token,
            health_timeout=config.app_health_probe_timeout,
            max_message_size=config.max_body_size,
            tls=config.app_protocol == AppProtocol.GRPCS,
        )
    from runtime.appchannel._transport import H1Transport, HttpxH2CTransport, Transport
    from runtime.appchannel.http import HttpAppChannel

    limit = config.app_max_concurrency if config.app_max_concurrency > 0 else _DEFAULT_CONNECTIONS
    transport: Transport
    if config.app_protocol == AppProtocol.H2C:
        transport = HttpxH2CTransport(limit=limit)
    else:
        transport = H1Transport(limit=limit)
    scheme = "https" if config.app_protocol == AppProtocol.HTTPS else "http"
    bracketed = f"[{host}]" if ":" in host else host
    return HttpAppChannel(
        base_url=f"{scheme}://{bracketed}:{port}",
        transport=transport,
        gate=gate,
        app_token=config.app_api_token,
        health_path=config.app_health_check_path,
        health_timeout=config.app_health_probe_timeout,
    )
