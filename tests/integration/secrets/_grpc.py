"""gRPC side of the secrets tests: stubs over Tandem's generated protos.

Imports ``protos``: the ``dapr`` SDK must never be imported next to this (see ``test_dapr_sdk``).
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc

from protos.dapr.runtime.v1 import dapr_pb2_grpc, secret_pb2

__all__ = ["SecretsGrpc"]


class SecretsGrpc:
    """Sync stubs on one channel to a sidecar's gRPC API."""

    def __init__(self, target: str, timeout: float = 30.0) -> None:
        self.channel = grpc.insecure_channel(target)
        self.dapr = dapr_pb2_grpc.DaprStub(self.channel)
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    def get(
        self, store: str, key: str, metadata: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        resp = self.dapr.GetSecret(
            secret_pb2.GetSecretRequest(store_name=store, key=key, metadata=dict(metadata or {})),
            timeout=self.timeout,
        )
        return dict(resp.data)

    def bulk(
        self, store: str, metadata: Mapping[str, str] | None = None
    ) -> dict[str, dict[str, str]]:
        resp = self.dapr.GetBulkSecret(
            secret_pb2.GetBulkSecretRequest(store_name=store, metadata=dict(metadata or {})),
            timeout=self.timeout,
        )
        return {name: dict(s.secrets) for name, s in resp.data.items()}
