"""The gRPC API, one servicer mixin per building block.

Each module holds one block's RPCs as a small class over ``self._services`` that subclasses
``BlockRpcs`` and the generated servicer it implements (``DaprServicer``, ``TandemServicer``).
``runtime.api.grpc.servicer`` composes the mixins listed in ``runtime.api.blocks`` into one
servicer per gRPC service. Handlers raise ``APIError``; the interceptor maps it to a status.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2
from grpc import aio

from runtime.services import Services

__all__ = ["EMPTY", "BlockRpcs", "Ctx"]

Ctx = aio.ServicerContext[Any, Any]
EMPTY = empty_pb2.Empty()


class BlockRpcs:
    """Base of every block's RPC mixin: the services the handlers call."""

    def __init__(self, services: Services) -> None:
        self._services = services
