"""Typed models of Dapr's Resiliency resource (``dapr.io/v1alpha1``, ``kind: Resiliency``).

Unknown fields inside ``spec`` are errors (typos must not silently disable a policy); the
``matching`` code lists and the breaker's ``trip`` expression are parsed here, so every
problem is found at load time with its field path.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from components._metadata import Duration
from runtime.resiliency.codes import GRPC_CODES, HTTP_CODES, parse_codes
from runtime.resiliency.trip import compile_trip

__all__ = [
    "BreakerSpec",
    "ComponentTarget",
    "Policies",
    "PolicyNames",
    "ResiliencyManifest",
    "ResiliencySpec",
    "RetryMatching",
    "RetrySpec",
    "Targets",
]

DEFAULT_TRIP = "consecutiveFailures > 5"


# defer_build: the validators are built at the first Resiliency document validated, so a
# sidecar without one does not pay for them at start-up.
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


HttpCodes = Annotated[frozenset[int], BeforeValidator(lambda v: parse_codes(v, HTTP_CODES))]
GrpcCodes = Annotated[frozenset[int], BeforeValidator(lambda v: parse_codes(v, GRPC_CODES))]


class RetryMatching(_Model):
    httpStatusCodes: HttpCodes = frozenset()  # noqa: N815 (Dapr's field names)
    gRPCStatusCodes: GrpcCodes = frozenset()  # noqa: N815


class RetrySpec(_Model):
    policy: Literal["constant", "exponential"] = "constant"
    duration: Duration = 5.0
    maxInterval: Duration = 60.0  # noqa: N815
    maxRetries: int = Field(default=-1, ge=-1)  # noqa: N815
    matching: RetryMatching | None = None


class BreakerSpec(_Model):
    maxRequests: int = Field(default=1, ge=0)  # noqa: N815 (0 means 1, as gobreaker)
    interval: Duration = 0.0  # 0: counts are never cleared while closed
    timeout: Duration = 60.0  # 0 means 60s, as gobreaker
    trip: str = DEFAULT_TRIP

    @field_validator("trip")
    @classmethod
    def _trip(cls, v: str) -> str:
        compile_trip(v)  # raises ValueError with CEL's message
        return v.strip()


class PolicyNames(_Model):
    timeout: str | None = None
    retry: str | None = None
    circuitBreaker: str | None = None  # noqa: N815


class ActorPolicyNames(PolicyNames):
    circuitBreakerScope: Literal["type", "id", "both"] | None = None  # noqa: N815
    circuitBreakerCacheSize: int | None = Field(default=None, ge=1)  # noqa: N815


class ComponentTarget(_Model):
    outbound: PolicyNames | None = None
    inbound: PolicyNames | None = None


class Policies(_Model):
    timeouts: dict[str, Duration] = Field(default_factory=dict)
    retries: dict[str, RetrySpec] = Field(default_factory=dict)
    circuitBreakers: dict[str, BreakerSpec] = Field(default_factory=dict)  # noqa: N815


class Targets(_Model):
    apps: dict[str, PolicyNames] = Field(default_factory=dict)
    actors: dict[str, ActorPolicyNames] = Field(default_factory=dict)
    components: dict[str, ComponentTarget] = Field(default_factory=dict)


class ResiliencySpec(_Model):
    policies: Policies = Field(default_factory=Policies)
    targets: Targets = Field(default_factory=Targets)


class _Meta(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    name: str = Field(min_length=1)
    namespace: str | None = None


class ResiliencyManifest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    apiVersion: str = "dapr.io/v1alpha1"  # noqa: N815
    kind: Literal["Resiliency"]
    metadata: _Meta
    scopes: list[str] = Field(default_factory=list)
    spec: ResiliencySpec = Field(default_factory=ResiliencySpec)
