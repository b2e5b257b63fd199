"""The secrets API's entries of the error table (see runtime/errors.py).

Dapr's secret errors are legacy ones (``{"errorCode","message"}``, no ErrorInfo reason). Where
Dapr answers a client's mistake with a server status, Tandem answers 4xx with Dapr's code:
an unknown store is 400 (Dapr: 401, which clients read as a bad API token), asking when no
secret store is loaded is 400, a missing secret is 404 (Dapr: 500), and a malformed key is 400
(Dapr hands it to the store). A backend failure stays 500 ``ERR_SECRET_GET``. No message
ever holds a secret's value.
"""

from __future__ import annotations

from http import HTTPStatus

import grpc

from runtime.errors import ErrorKind, ErrorTable

__all__ = ["SecretsErrors"]

SC = grpc.StatusCode
_CLIENT = "client mistake, answered 4xx (Dapr: {})"


class SecretsErrors(ErrorTable):
    STORES_NOT_CONFIGURED = ErrorKind(
        code="ERR_SECRET_STORES_NOT_CONFIGURED",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.FAILED_PRECONDITION,
        message="secret store is not configured",
        dapr_http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        note=_CLIENT.format("500: the app asks for a store it does not have"),
    )
    STORE_NOT_FOUND = ErrorKind(
        code="ERR_SECRET_STORE_NOT_FOUND",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="failed finding secret store with key {name}",
        dapr_http_status=HTTPStatus.UNAUTHORIZED,
        note=_CLIENT.format("401, which reads as a bad API token; Dapr's docs say 400"),
    )
    PERMISSION_DENIED = ErrorKind(
        code="ERR_PERMISSION_DENIED",
        http_status=HTTPStatus.FORBIDDEN,
        grpc_code=SC.PERMISSION_DENIED,
        message="access denied by policy to get {key!r} from {store!r}",
    )
    KEY_INVALID = ErrorKind(
        code="ERR_MALFORMED_REQUEST",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="invalid secret key {key}: {detail}",
        note="Dapr has no such check: it hands any key to the store, whose refusal is a 500",
    )
    SECRET_NOT_FOUND = ErrorKind(
        code="ERR_SECRET_GET",
        http_status=HTTPStatus.NOT_FOUND,
        grpc_code=SC.NOT_FOUND,
        message="failed getting secret with key {key} from secret store {store}: secret not found",
        dapr_http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        dapr_grpc_code=SC.INTERNAL,
        note=_CLIENT.format("500 Internal, the store's not-found error passed on"),
    )
    GET_FAILED = ErrorKind(
        code="ERR_SECRET_GET",
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed getting secret with key {key} from secret store {store}: {detail}",
    )
    BULK_GET_FAILED = ErrorKind(
        code="ERR_SECRET_GET",
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="failed getting secrets from secret store {store}: {detail}",
    )
