"""flagd's gRPC services, as the flags block serves them: imported at their first call.

``runtime.api.blocks`` names this module and the services' full names in the flags block's
``grpc_deferred``; ``runtime.api.grpc.servicer`` routes a call to one of those names here and
imports this module then. Until then neither flagd's protos nor the flag engine are loaded
(issue 15: start-up), whatever the sidecar serves.
"""

from __future__ import annotations

from protos.flagd.evaluation.v1 import evaluation_pb2_grpc as flagd_v1
from protos.flagd.evaluation.v2 import evaluation_pb2_grpc as flagd_v2
from protos.flagd.sync.v1 import sync_pb2_grpc as flagd_sync
from runtime.api.grpc.rpcs import BlockRpcs
from runtime.api.grpc.rpcs.flags import FlagdEvaluationV1Rpcs, FlagdEvaluationV2Rpcs
from runtime.api.grpc.rpcs.flags_sync import FlagdSyncRpcs

__all__ = ["MIXINS", "SERVICES"]

# as a Block's ``grpc`` and ``grpc_services``
MIXINS: tuple[type[BlockRpcs], ...] = (FlagdEvaluationV1Rpcs, FlagdEvaluationV2Rpcs, FlagdSyncRpcs)
SERVICES = (
    (flagd_v1.ServiceServicer, flagd_v1.add_ServiceServicer_to_server),
    (flagd_v2.ServiceServicer, flagd_v2.add_ServiceServicer_to_server),
    (flagd_sync.FlagSyncServiceServicer, flagd_sync.add_FlagSyncServiceServicer_to_server),
)
