"""The sidecar-to-sidecar request and response, over HTTP/1.1.

Request: ``<verb> /v1.0/internal/invoke/<method>?<query>``, the caller's headers (hop-by-hop
ones removed) plus the identity headers below, the body streamed. A gRPC call with no HTTP verb
travels as ``POST`` with ``x-tandem-verb: NONE``; a ``google.protobuf.Any`` body type in
``x-tandem-data-type``.
Response: the app's status, headers and body, streamed; for a gRPC app also its gRPC status in
``x-tandem-grpc-status``. An error of the callee sidecar itself (app unhealthy, unreachable)
is a Dapr error body marked with ``x-tandem-error: <entry>`` (its error-table entry, e.g.
``InvokeErrors.APP_UNHEALTHY``), which the calling sidecar raises again as the same error.
"""

from __future__ import annotations

__all__ = [
    "CALLEE_APP_ID",
    "CALLER_APP_ID",
    "CALLER_NAMESPACE",
    "DATA_TYPE",
    "ERROR",
    "GRPC_STATUS",
    "IDENTITY_HEADERS",
    "PATH_PREFIX",
    "VERB",
    "VERB_NONE",
]

PATH_PREFIX = "/v1.0/internal/invoke/"
CALLER_APP_ID = "dapr-caller-app-id"
CALLER_NAMESPACE = "dapr-caller-namespace"
CALLEE_APP_ID = "dapr-callee-app-id"
VERB = "x-tandem-verb"
VERB_NONE = "NONE"
DATA_TYPE = "x-tandem-data-type"
GRPC_STATUS = "x-tandem-grpc-status"
ERROR = "x-tandem-error"
# set by sidecars only: whatever a caller sends under these names is replaced
IDENTITY_HEADERS = frozenset({CALLER_APP_ID, CALLER_NAMESPACE, CALLEE_APP_ID, VERB, DATA_TYPE})
