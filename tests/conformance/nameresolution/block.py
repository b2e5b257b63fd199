"""The name resolution block as the shared conformance harness sees it.

Matrix fields of its own (``components.yaml``):
  known:  optional; an app id the manifest itself maps (static, dns): ``appId``, ``namespace``,
          ``addresses`` ("host:port", in any order). Resolvers that register (REGISTER) get
          their known app by registering it in the case.
  anyName: optional, default false; true for a resolver that maps every well-formed app id
          to an address without knowing whether it exists (dns without lookups)

Feature coherence: REGISTER is the capability Protocol ``RegisteringResolver``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.nameresolution import (
    Address,
    NameResolutionFeature,
    RegisteringResolver,
    Registration,
)
from tests.conformance._harness import Block, Case, FeatureCheck

__all__ = ["NAMERESOLUTION", "Known", "NameResolutionOptions", "registration"]


class Known(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    app_id: str = Field(alias="appId")
    namespace: str = ""
    addresses: list[str]


class NameResolutionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    known: Known | None = None
    any_name: bool = Field(default=False, alias="anyName")


def registration(app_id: str, port: int, *, pid: int | None = None) -> Registration:
    return Registration(
        app_id=app_id,
        namespace="default",
        address=Address("127.0.0.1", port),
        pid=os.getpid() if pid is None else pid,
        hostname=socket.gethostname(),
    )


async def _register(resolver: Any, _: Case[Any], key: str) -> None:
    await resolver.register(registration(key, 50002))


NAMERESOLUTION: Block[NameResolutionOptions] = Block(
    name="nameresolution",
    features=NameResolutionFeature,
    declared=lambda resolver: resolver.features(),
    options=NameResolutionOptions,
    checks={
        NameResolutionFeature.REGISTER: FeatureCheck(protocol=RegisteringResolver, probe=_register),
    },
)
