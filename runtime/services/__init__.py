"""Building-block semantics shared by the HTTP and gRPC APIs (the only place they live).

``Services`` is everything the API adapters may call: built once at start-up by the lifecycle
and handed, unchanged, to both servers. A new building block adds one field here (its service
in ``runtime/services/<block>.py``) and one entry in ``runtime.api.blocks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the services import components; keep ``import runtime.services`` light
    from runtime.services.configuration import ConfigurationService
    from runtime.services.flags import FlagsService
    from runtime.services.grpcproxy import GrpcProxyService
    from runtime.services.invoke import InvokeService
    from runtime.services.metadata import MetadataService
    from runtime.services.pubsub import PubSubService
    from runtime.services.pubsub_subscriptions import SubscriptionManager
    from runtime.services.secrets import SecretsService
    from runtime.services.state import StateService
    from runtime.status import RuntimeStatus

__all__ = ["Services"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """The building-block services and the runtime status, as the APIs see them."""

    state: StateService
    metadata: MetadataService
    status: RuntimeStatus
    invoke: InvokeService
    configuration: ConfigurationService
    pubsub: PubSubService
    secrets: SecretsService
    subscriptions: SubscriptionManager | None = None  # None: no delivery (tests of one API)
    flags: FlagsService | None = None  # None when no flag source is configured
    grpc_proxy: GrpcProxyService | None = None  # None: no gRPC proxying (tests of one API)
