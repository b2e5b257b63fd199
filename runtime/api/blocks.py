"""The building blocks the APIs serve: the one list both servers read.

Adding a block: write its service (``runtime/services/<block>.py``, a field on ``Services``),
its HTTP routes (``runtime/api/http/routes/<block>.py``), its gRPC mixin
(``runtime/api/grpc/rpcs/<block>.py``), then add one ``Block`` line below. A block serving a
gRPC service other than Dapr's and Tandem's names it in ``grpc_services``. ``build_app`` adds
every block's routes; ``GrpcServer`` composes every block's mixins into one servicer per gRPC
service (a mixin's generated base, e.g. ``DaprServicer``, says which service it extends).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware
from grpc import aio

from runtime.api.grpc.rpcs import BlockRpcs
from runtime.api.grpc.rpcs.configuration import ConfigurationRpcs
from runtime.api.grpc.rpcs.invoke import InvokeRpcs
from runtime.api.grpc.rpcs.metadata import MetadataRpcs
from runtime.api.grpc.rpcs.pubsub import PubSubRpcs
from runtime.api.grpc.rpcs.runtime import RuntimeRpcs
from runtime.api.grpc.rpcs.secrets import SecretsRpcs
from runtime.api.grpc.rpcs.state import StateRpcs
from runtime.api.grpc.rpcs.state_keys import StateKeysRpcs
from runtime.api.http.routes import configuration as configuration_routes
from runtime.api.http.routes import flags as flags_routes
from runtime.api.http.routes import invoke as invoke_routes
from runtime.api.http.routes import pubsub as pubsub_routes
from runtime.api.http.routes import runtime as runtime_routes
from runtime.api.http.routes import secrets as secrets_routes
from runtime.api.http.routes import state as state_routes

__all__ = ["BLOCKS", "Block", "DeferredGrpc", "GrpcService"]

GrpcService = tuple[type[Any], Callable[[Any, aio.Server], None]]
"""A generated servicer base and its ``add_*_to_server``."""


class DeferredGrpc(msgspec.Struct, frozen=True, kw_only=True):
    """gRPC services of a block's own, imported at their first call: ``module`` holds
    ``MIXINS`` and ``SERVICES`` (what ``Block.grpc`` and ``Block.grpc_services`` would hold),
    ``names`` the services' full names (``package.Service``), which route calls to them before
    the import. For services few sidecars are called on whose import costs start-up time."""

    module: str
    names: tuple[str, ...]


class Block(msgspec.Struct, frozen=True, kw_only=True):
    """One building block's API surface: its HTTP route tables and its gRPC mixins.

    ``http_middleware`` are placed after authentication and before body buffering: for a block
    that must see requests on any path or stream their bodies (service invocation)."""

    name: str
    http: tuple[web.RouteTableDef, ...] = ()
    http_middleware: tuple[Middleware, ...] = ()
    grpc: tuple[type[BlockRpcs], ...] = ()
    # gRPC services of the block's own, served beside Dapr's (its mixins extend their bases)
    grpc_services: tuple[GrpcService, ...] = ()
    grpc_deferred: DeferredGrpc | None = None


BLOCKS: tuple[Block, ...] = (
    # health, metadata and shutdown
    Block(name="runtime", http=(runtime_routes.routes,), grpc=(MetadataRpcs, RuntimeRpcs)),
    Block(name="state", http=(state_routes.routes,), grpc=(StateRpcs, StateKeysRpcs)),
    Block(
        name="invoke",
        http=(invoke_routes.routes,),
        http_middleware=(invoke_routes.invoke_middleware,),
        grpc=(InvokeRpcs,),
    ),
    Block(
        name="flags",
        http=(flags_routes.routes,),
        # flagd's protos and the flag engine: imported at the first flagd call
        grpc_deferred=DeferredGrpc(
            module="runtime.api.grpc.rpcs.flagd",
            names=(
                "flagd.evaluation.v1.Service",
                "flagd.evaluation.v2.Service",
                "flagd.sync.v1.FlagSyncService",
            ),
        ),
    ),
    Block(name="configuration", http=(configuration_routes.routes,), grpc=(ConfigurationRpcs,)),
    Block(name="pubsub", http=(pubsub_routes.routes,), grpc=(PubSubRpcs,)),
    Block(name="secrets", http=(secrets_routes.routes,), grpc=(SecretsRpcs,)),
)
