"""Configuration RPCs of ``dapr.proto.runtime.v1.Dapr`` (the ``*Alpha1`` names are aliases).

``SubscribeConfiguration`` streams: the first message carries only the subscription id, each
later one the changed items. The stream ends when the caller cancels it or unsubscribes; the
subscription ends with the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import configuration_pb2 as pb
from protos.dapr.runtime.v1 import dapr_pb2_grpc
from runtime.api.grpc.rpcs import BlockRpcs, Ctx
from runtime.services.configuration import ConfigurationItem

__all__ = ["ConfigurationRpcs"]


def _items(items: Mapping[str, ConfigurationItem]) -> dict[str, common_pb2.ConfigurationItem]:
    return {
        k: common_pb2.ConfigurationItem(value=v.value, version=v.version, metadata=dict(v.metadata))
        for k, v in items.items()
    }


class ConfigurationRpcs(BlockRpcs, dapr_pb2_grpc.DaprServicer):
    async def GetConfiguration(
        self, request: pb.GetConfigurationRequest, context: Ctx
    ) -> pb.GetConfigurationResponse:
        items = await self._services.configuration.get(
            request.store_name, list(request.keys), dict(request.metadata)
        )
        return pb.GetConfigurationResponse(items=_items(items))

    async def SubscribeConfiguration(
        self, request: pb.SubscribeConfigurationRequest, context: Ctx
    ) -> AsyncIterator[pb.SubscribeConfigurationResponse]:
        service = self._services.configuration
        sub = await service.subscribe(
            request.store_name, list(request.keys), dict(request.metadata)
        )
        try:
            yield pb.SubscribeConfigurationResponse(id=sub.id)
            async for items in sub:
                yield pb.SubscribeConfigurationResponse(id=sub.id, items=_items(items))
        finally:
            await service.close(sub)

    async def UnsubscribeConfiguration(
        self, request: pb.UnsubscribeConfigurationRequest, context: Ctx
    ) -> pb.UnsubscribeConfigurationResponse:
        await self._services.configuration.unsubscribe(request.store_name, request.id)
        return pb.UnsubscribeConfigurationResponse(ok=True)

    GetConfigurationAlpha1 = GetConfiguration
    SubscribeConfigurationAlpha1 = SubscribeConfiguration
    UnsubscribeConfigurationAlpha1 = UnsubscribeConfiguration
