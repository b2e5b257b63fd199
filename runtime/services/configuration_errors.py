"""The configuration API's entries of the error table (see runtime/errors.py).

Dapr's configuration errors are legacy ones (``{"errorCode","message"}``, no rich details) with
its messages. Tandem answers the caller's mistakes (an unknown subscription id, an empty key,
request metadata the store refuses) with 400 / INVALID_ARGUMENT where Dapr says 500.
"""

from __future__ import annotations

from http import HTTPStatus

import grpc

from runtime.errors import ErrorKind, ErrorTable

__all__ = ["ConfigurationErrors"]

SC = grpc.StatusCode
H = HTTPStatus
CLIENT_MISTAKE = (
    "client mistake: Dapr passes the request to the store and reports the refusal as a "
    "server failure"
)


class ConfigurationErrors(ErrorTable):
    STORE_NOT_CONFIGURED = ErrorKind(
        code="ERR_CONFIGURATION_STORE_NOT_CONFIGURED",
        http_status=H.INTERNAL_SERVER_ERROR,
        grpc_code=SC.FAILED_PRECONDITION,
        message="error configuration stores not configured",
    )
    STORE_NOT_FOUND = ErrorKind(
        code="ERR_CONFIGURATION_STORE_NOT_FOUND",
        http_status=H.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="error configuration stores {name} not found",
    )
    GET = ErrorKind(
        code="ERR_CONFIGURATION_GET",
        http_status=H.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed to get {keys} from Configuration store {store}: {detail}",
    )
    GET_INVALID = ErrorKind(
        code="ERR_CONFIGURATION_GET",
        http_status=H.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="failed to get {keys} from Configuration store {store}: {detail}",
        dapr_http_status=H.INTERNAL_SERVER_ERROR,
        dapr_grpc_code=SC.INTERNAL,
        note=CLIENT_MISTAKE,
    )
    SUBSCRIBE = ErrorKind(
        code="ERR_CONFIGURATION_SUBSCRIBE",
        http_status=H.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed to subscribe {keys} from Configuration store {store}: {detail}",
    )
    SUBSCRIBE_INVALID = ErrorKind(
        code="ERR_CONFIGURATION_SUBSCRIBE",
        http_status=H.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="failed to subscribe {keys} from Configuration store {store}: {detail}",
        dapr_http_status=H.INTERNAL_SERVER_ERROR,
        dapr_grpc_code=SC.INTERNAL,
        note=CLIENT_MISTAKE,
    )
    UNSUBSCRIBE = ErrorKind(
        code="ERR_CONFIGURATION_UNSUBSCRIBE",
        http_status=H.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="failed to unsubscribe to configuration request {id}: {detail}",
        dapr_http_status=H.INTERNAL_SERVER_ERROR,
        dapr_grpc_code=SC.INTERNAL,
        note="an id that is not a subscription of this store is the caller's mistake; Dapr "
        "answers 500 (HTTP body {ok: false, message})",
    )
    KEY_EMPTY = ErrorKind(
        code="ERR_MALFORMED_REQUEST",
        http_status=H.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="configuration keys must not be empty strings",
        note="Tandem only: Dapr passes an empty key to the store",
    )
    APP_CHANNEL_NIL = ErrorKind(
        code="ERR_APP_CHANNEL_NIL",
        http_status=H.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="app channel not initialized: an HTTP subscription calls the app back "
        "(start the sidecar with --app-port)",
    )
