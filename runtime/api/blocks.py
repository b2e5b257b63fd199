"""The building blocks the APIs serve: the one list both servers read.

Adding a block: write its service (``runtime/services/<block>.py``, a field on ``Services``),
its HTTP routes (``runtime/api/http/routes/<block>.py``), its gRPC mixin
(``runtime/api/grpc/rpcs/<block>.py``), then add one ``Block`` line below. ``build_app`` adds
every block's routes; ``GrpcServer`` composes every block's mixins into one servicer per gRPC
service (a mixin's generated base, e.g. ``DaprServicer``, says which service it extends).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

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
from runtime.api.http.routes import invoke as invoke_routes
from runtime.api.http.routes import pubsub as pubsub_routes
from runtime.api.http.routes import runtime as runtime_routes
from runtime.api.http.routes import secrets as secrets_routes
from runtime.api.http.routes import state as state_routes

__all__ = ["BLOCKS", "Block"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """One building block's API surface: its HTTP route tables and its gRPC mixins.

    ``http_middleware`` are placed after authentication and before body buffering: for a block
    that must see requests on any path or stream their bodies (service invocation)."""

    name: str
    http: tuple[web.RouteTableDef, ...] = ()
    http_middleware: tuple[Middleware, ...] = ()
    grpc: tuple[type[BlockRpcs], ...] = ()


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
    Block(name="configuration", http=(configuration_routes.routes,), grpc=(ConfigurationRpcs,)),
    Block(name="pubsub", http=(pubsub_routes.routes,), grpc=(PubSubRpcs,)),
    Block(name="secrets", http=(secrets_routes.routes,), grpc=(SecretsRpcs,)),
)
