"""Secrets RPCs (``GetSecret``, ``GetBulkSecret``): the adapter over ``SecretsService``."""

from __future__ import annotations

from protos.dapr.runtime.v1 import dapr_pb2_grpc, secret_pb2
from runtime.api.grpc.rpcs import BlockRpcs, Ctx

__all__ = ["SecretsRpcs"]


class SecretsRpcs(BlockRpcs, dapr_pb2_grpc.DaprServicer):
    async def GetSecret(
        self, request: secret_pb2.GetSecretRequest, context: Ctx
    ) -> secret_pb2.GetSecretResponse:
        found = await self._services.secrets.get(
            request.store_name, request.key, dict(request.metadata)
        )
        return secret_pb2.GetSecretResponse(data=found)

    async def GetBulkSecret(
        self, request: secret_pb2.GetBulkSecretRequest, context: Ctx
    ) -> secret_pb2.GetBulkSecretResponse:
        found = await self._services.secrets.bulk(request.store_name, dict(request.metadata))
        return secret_pb2.GetBulkSecretResponse(
            data={name: secret_pb2.SecretResponse(secrets=values) for name, values in found.items()}
        )
