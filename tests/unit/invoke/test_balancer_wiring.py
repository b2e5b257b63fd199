"""The invocation path reports every call to its balancer: replicas that refuse connections
(real sockets, nothing listening) are ejected; a resolver whose server is unreachable is a
500 ERR_DIRECT_INVOKE, not a crash."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from components.base import ComponentContext
from components.nameresolution import Address
from components.nameresolution.static import StaticMetadata, StaticResolver
from runtime.appchannel.base import InvokeRequest
from runtime.errors import APIError
from runtime.internal.balancer import Balancer
from runtime.internal.client import InternalClient
from runtime.internal.grpcproxy import TunnelClient
from runtime.services.grpcproxy import GrpcProxyService
from runtime.services.invoke import InvokeService
from tests.integration.harness import free_port


class _RegistryDown(StaticResolver):
    """A resolver whose registry cannot be reached (as nameresolution.redis without Redis)."""

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        raise ConnectionError("nameresolution.redis: registry unreachable: ConnectionError")


def _context() -> ComponentContext:
    return ComponentContext(
        name="nr", app_id="caller", namespace="", home=Path("."), logger=logging.getLogger("t")
    )


async def test_refusing_replicas_are_ejected() -> None:
    ports = [free_port(), free_port()]  # free: nothing listens, connections are refused
    resolver = StaticResolver(
        StaticMetadata.model_validate({"apps": {"callee": [f"127.0.0.1:{p}" for p in ports]}}),
        context=_context(),
    )
    client = InternalClient(connect_timeout=2)
    service = InvokeService(
        app_id="caller",
        namespace="",
        resolver=resolver,
        client=client,
        app_channel=lambda: None,
    )
    try:
        with pytest.raises(APIError) as caught:
            await service.invoke("callee", InvokeRequest(method="echo", verb="GET"))
    finally:
        await client.aclose()
    assert caught.value.kind.http_status == 500
    assert all(service.balancer.ejected(Address("127.0.0.1", p)) for p in ports)


async def test_an_unreachable_registry_is_a_500() -> None:
    resolver = _RegistryDown(StaticMetadata(), context=_context())
    client = InternalClient()
    service = InvokeService(
        app_id="caller", namespace="", resolver=resolver, client=client, app_channel=lambda: None
    )
    try:
        with pytest.raises(APIError) as caught:
            await service.invoke("callee", InvokeRequest(method="echo", verb="GET"))
    finally:
        await client.aclose()
    assert caught.value.kind.http_status == 500
    assert caught.value.kind.code == "ERR_DIRECT_INVOKE"
    assert "registry unreachable" in str(caught.value)


async def test_grpc_proxying_shares_the_balancer_and_ejects_a_refusing_replica() -> None:
    port = free_port()  # nothing listens: the tunnel's connection is refused
    resolver = StaticResolver(
        StaticMetadata.model_validate({"apps": {"callee": [f"127.0.0.1:{port}"]}}),
        context=_context(),
    )
    balancer = Balancer()
    tunnels = TunnelClient(max_frame=1 << 20)
    proxy = GrpcProxyService(
        app_id="caller",
        namespace="",
        resolver=resolver,
        client=tunnels,
        app_channel=lambda: None,
        balancer=balancer,
    )
    try:
        call = await proxy.open("callee", "/echo.Echo/Say", (), 5.0)
        with pytest.raises(APIError) as caught:
            await call.initial_metadata()
    finally:
        await tunnels.aclose()
    assert caught.value.kind.code == "ERR_DIRECT_INVOKE"
    assert balancer.ejected(Address("127.0.0.1", port))
