"""The pub/sub API's entries of the error table (see runtime/errors.py).

Dapr's pub/sub errors (``pkg/api/errors/pubsub.go``) are rich: ErrorInfo with a
``DAPR_PUBSUB_*`` reason and metadata (``appID``, ``pubsubName``, ``topic``), and ResourceInfo
``pubsub``/<name>. Where Dapr answers a client's mistake with a 500 (a user CloudEvent that is
not JSON), Tandem answers 400 and records Dapr's status.
"""

from __future__ import annotations

from http import HTTPStatus

import grpc

from runtime.errors import ErrorKind, ErrorTable

__all__ = ["RESOURCE", "PubSubErrors"]

SC = grpc.StatusCode
H = HTTPStatus
RESOURCE = "pubsub"


class PubSubErrors(ErrorTable):
    NOT_FOUND = ErrorKind(
        code="ERR_PUBSUB_NOT_FOUND",
        http_status=H.NOT_FOUND,
        grpc_code=SC.INVALID_ARGUMENT,
        message="pubsub {name} is not found",
        reason="DAPR_PUBSUB_NOT_FOUND",
        resource_type=RESOURCE,
    )
    NOT_CONFIGURED = ErrorKind(
        code="ERR_PUBSUB_NOT_CONFIGURED",
        http_status=H.BAD_REQUEST,
        grpc_code=SC.FAILED_PRECONDITION,
        message="no pubsub is configured",
        reason="DAPR_PUBSUB_NOT_CONFIGURED",
        resource_type=RESOURCE,
    )
    NAME_EMPTY = ErrorKind(
        code="ERR_PUBSUB_EMPTY",
        http_status=H.NOT_FOUND,
        grpc_code=SC.INVALID_ARGUMENT,
        message="pubsub name is empty",
        reason="DAPR_PUBSUB_NAME_EMPTY",
        resource_type=RESOURCE,
    )
    TOPIC_EMPTY = ErrorKind(
        code="ERR_TOPIC_NAME_EMPTY",
        http_status=H.NOT_FOUND,
        grpc_code=SC.INVALID_ARGUMENT,
        message="topic is empty in pubsub {name}",
        reason="DAPR_PUBSUB_TOPIC_NAME_EMPTY",
        resource_type=RESOURCE,
    )
    FORBIDDEN = ErrorKind(
        code="ERR_PUBSUB_FORBIDDEN",
        http_status=H.FORBIDDEN,
        grpc_code=SC.PERMISSION_DENIED,
        message="topic {topic} is not allowed for app id {app_id}",
        reason="DAPR_PUBSUB_FORBIDDEN",
        resource_type=RESOURCE,
    )
    PUBLISH_MESSAGE = ErrorKind(
        code="ERR_PUBSUB_PUBLISH_MESSAGE",
        http_status=H.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="error when publish to topic {topic} in pubsub {name}: {detail}",
        reason="DAPR_PUBSUB_PUBLISH_MESSAGE",
        resource_type=RESOURCE,
    )
    REQUEST_METADATA = ErrorKind(
        code="ERR_PUBSUB_REQUEST_METADATA",
        http_status=H.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="failed deserializing metadata: {detail}",
        reason="DAPR_PUBSUB_METADATA_DESERIALIZATION",
        resource_type=RESOURCE,
    )
    CLOUD_EVENT = ErrorKind(
        code="ERR_PUBSUB_CLOUD_EVENTS_SER",
        http_status=H.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="cannot create cloudevent for topic {topic} in pubsub {name}: {detail}",
        reason="DAPR_PUBSUB_CLOUD_EVENT_CREATION",
        resource_type=RESOURCE,
        dapr_http_status=H.INTERNAL_SERVER_ERROR,
        note="client mistake (the body is not a JSON CloudEvent): Dapr answers HTTP 500",
    )
    EVENTS_SER = ErrorKind(
        code="ERR_PUBSUB_EVENTS_SER",
        http_status=H.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="error when marshalling events for topic {topic} in pubsub {name}: {detail}",
        reason="DAPR_PUBSUB_MARSHAL_EVENTS",
        resource_type=RESOURCE,
    )
    OUTBOX_PUBLISH = ErrorKind(
        code="ERR_PUBLISH_OUTBOX",
        http_status=H.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="error while publishing outbox message: {detail}",
        resource_type=RESOURCE,
    )
