"""The state API's entries of the error table (see runtime/errors.py).

Dapr's rich state errors (``pkg/api/errors/state.go``) carry ErrorInfo with a ``DAPR_STATE_*``
reason and, except for "not found"/"not configured", ResourceInfo ``state``/<store>. A store
operation's failure is ``ERR_STATE_<OP>``: 500 by default, 409/ABORTED for a stale ETag, 400 for
input the store rejects (a malformed ETag); ``OpErrors`` groups the three of one operation.
"""

from __future__ import annotations

from http import HTTPStatus

import grpc
import msgspec

from runtime.errors import ErrorKind, ErrorTable

__all__ = [
    "BULK_GET",
    "DELETE",
    "GET",
    "LIST_KEYS",
    "QUERY",
    "SAVE",
    "TRANSACTION",
    "OpErrors",
    "StateErrors",
]

SC = grpc.StatusCode
RESOURCE = "state"
CLIENT_MISTAKE = (
    "client mistake: the request is malformed (Dapr passes it to the store and reports the "
    "store's refusal as a server failure)"
)


def _failed(code: str, message: str, **kw: object) -> ErrorKind:
    return ErrorKind(
        code=code,
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message=message,
        **kw,  # type: ignore[arg-type]
    )


def _invalid(code: str, message: str, *, as_dapr: bool = False, **kw: object) -> ErrorKind:
    """400: the store (or Tandem) rejected the caller's input. ``as_dapr``: Dapr does too."""
    if not as_dapr:
        kw = {
            "dapr_http_status": HTTPStatus.INTERNAL_SERVER_ERROR,
            "dapr_grpc_code": SC.INTERNAL,
            "note": CLIENT_MISTAKE,
            **kw,
        }
    return ErrorKind(
        code=code,
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message=message,
        resource_type=RESOURCE,
        **kw,  # type: ignore[arg-type]
    )


def _conflict(code: str, message: str, **kw: object) -> ErrorKind:
    return ErrorKind(
        code=code,
        http_status=HTTPStatus.CONFLICT,
        grpc_code=SC.ABORTED,
        message=message,
        **kw,  # type: ignore[arg-type]
    )


_GET = "fail to get {key} from state store {store}: {detail}"
_BULK_GET = "failed getting bulk state from state store {store}: {detail}"
_SAVE = "failed saving state in state store {store}: {detail}"
_DELETE = "failed deleting state {target}: {detail}"
_TRANSACTION = "error while executing state transaction on store {store}: {detail}"
_QUERY = "failed query in state store {store}: {detail}"
_LIST_KEYS = "failed listing keys in state store {store}: {detail}"
_TANDEM_ONLY = "Tandem-only API (key listing); Dapr has no such call"


class StateErrors(ErrorTable):
    # ---- lookup and input ---------------------------------------------------------------------
    STORE_NOT_CONFIGURED = ErrorKind(
        code="ERR_STATE_STORE_NOT_CONFIGURED",
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.FAILED_PRECONDITION,
        message="state store is not configured",
        reason="DAPR_STATE_NOT_CONFIGURED",
    )
    STORE_NOT_FOUND = ErrorKind(
        code="ERR_STATE_STORE_NOT_FOUND",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="state store {name} is not found",
        reason="DAPR_STATE_NOT_FOUND",
    )
    ILLEGAL_KEY = ErrorKind(
        code="ERR_MALFORMED_REQUEST",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="input key/keyPrefix '{key}' can't contain '||'",
        reason="DAPR_STATE_ILLEGAL_KEY",
        resource_type=RESOURCE,
    )
    KEY_REQUIRED = ErrorKind(
        code="ERR_MALFORMED_REQUEST",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="key is a required field",
    )
    KEY_TOO_LONG = ErrorKind(
        code="ERR_MALFORMED_REQUEST",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="{what} {key} is longer than {limit} bytes",
        reason="DAPR_STATE_ILLEGAL_KEY",
        resource_type=RESOURCE,
        note="Tandem's key size limit, the same for every store: Dapr passes any key to the "
        "store (PostgreSQL then fails with a 500)",
    )
    KEY_NUL = ErrorKind(
        code="ERR_MALFORMED_REQUEST",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="{what} {key} contains a NUL character",
        reason="DAPR_STATE_ILLEGAL_KEY",
        resource_type=RESOURCE,
        note="Tandem refuses NUL in keys on every store: Dapr passes it to the store, which "
        "keeps it or fails (PostgreSQL), so answers differed by store",
    )
    UNSUPPORTED_OPERATION = ErrorKind(  # Dapr's irregular pairing: HTTP 400, gRPC Unimplemented
        code="ERR_NOT_SUPPORTED_STATE_OPERATION",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.UNIMPLEMENTED,
        message="operation type {operation!r} not supported (operations[{index}]): "
        "expected upsert or delete",
    )
    TOO_MANY_TRANSACTIONS = ErrorKind(
        code="ERR_STATE_STORE_TOO_MANY_TRANSACTIONS",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="the transaction contains {count} operations, more than the maximum of {limit} "
        "the state store {store} allows",
        reason="DAPR_STATE_TOO_MANY_TRANSACTIONS",
        resource_type=RESOURCE,
    )
    QUERY_INVALID = ErrorKind(
        code="ERR_STATE_QUERY",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="failed parsing query: {detail}",
        reason="DAPR_STATE_QUERY_FAILED",
        resource_type=RESOURCE,
        dapr_http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        dapr_grpc_code=SC.INTERNAL,
        note=CLIENT_MISTAKE,
    )
    LIST_KEYS_LIMIT = ErrorKind(
        code="ERR_MALFORMED_REQUEST",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="invalid limit {limit}: expected an integer from 1 to {max}",
        resource_type=RESOURCE,
        note=_TANDEM_ONLY,
    )

    # ---- missing features -----------------------------------------------------------------
    FEATURE_NOT_SUPPORTED = ErrorKind(
        code="ERR_STATE_STORE_NOT_SUPPORTED",
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.UNIMPLEMENTED,
        message="{detail}",
    )
    TRANSACTIONS_NOT_SUPPORTED = ErrorKind(
        code="ERR_STATE_STORE_NOT_SUPPORTED",
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.UNIMPLEMENTED,
        message="state store {store} doesn't support transactions",
        reason="DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED",
        resource_type=RESOURCE,
    )
    QUERYING_NOT_SUPPORTED = ErrorKind(  # Dapr pairs this one with Internal
        code="ERR_STATE_STORE_NOT_SUPPORTED",
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="state store {store} doesn't support query",
        reason="DAPR_STATE_QUERYING_NOT_SUPPORTED",
        resource_type=RESOURCE,
    )

    # ---- store operations -----------------------------------------------------------------
    GET_FAILED = _failed("ERR_STATE_GET", _GET)
    GET_INVALID = _invalid("ERR_STATE_GET", _GET)
    BULK_GET_FAILED = _failed("ERR_STATE_BULK_GET", _BULK_GET)
    BULK_GET_INVALID = _invalid("ERR_STATE_BULK_GET", _BULK_GET)
    SAVE_FAILED = _failed("ERR_STATE_SAVE", _SAVE)
    SAVE_INVALID = _invalid("ERR_STATE_SAVE", _SAVE, as_dapr=True)
    SAVE_CONFLICT = _conflict("ERR_STATE_SAVE", _SAVE)
    DELETE_FAILED = _failed("ERR_STATE_DELETE", _DELETE)
    DELETE_INVALID = _invalid("ERR_STATE_DELETE", _DELETE, as_dapr=True)
    DELETE_CONFLICT = _conflict("ERR_STATE_DELETE", _DELETE)
    TRANSACTION_FAILED = _failed("ERR_STATE_TRANSACTION", _TRANSACTION)
    TRANSACTION_INVALID = _invalid("ERR_STATE_TRANSACTION", _TRANSACTION)
    TRANSACTION_CONFLICT = _conflict(
        "ERR_STATE_TRANSACTION",
        _TRANSACTION,
        dapr_http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        dapr_grpc_code=SC.INTERNAL,
        note="a stale ETag in a transaction is a conflict, as it is for save and delete",
    )
    QUERY_FAILED = _failed(
        "ERR_STATE_QUERY", _QUERY, reason="DAPR_STATE_QUERY_FAILED", resource_type=RESOURCE
    )
    LIST_KEYS_FAILED = _failed("ERR_STATE_LIST_KEYS", _LIST_KEYS, note=_TANDEM_ONLY)
    LIST_KEYS_INVALID = _invalid("ERR_STATE_LIST_KEYS", _LIST_KEYS, as_dapr=True, note=_TANDEM_ONLY)


class OpErrors(msgspec.Struct, frozen=True):
    """The entries one store operation reports, by cause."""

    failed: ErrorKind  # the store failed
    invalid: ErrorKind  # the store (or Tandem) rejected the input
    conflict: ErrorKind  # a stale ETag

    @classmethod
    def of(
        cls, failed: ErrorKind, invalid: ErrorKind, conflict: ErrorKind | None = None
    ) -> OpErrors:
        return cls(failed, invalid, conflict or failed)


GET = OpErrors.of(StateErrors.GET_FAILED, StateErrors.GET_INVALID)
BULK_GET = OpErrors.of(StateErrors.BULK_GET_FAILED, StateErrors.BULK_GET_INVALID)
SAVE = OpErrors.of(StateErrors.SAVE_FAILED, StateErrors.SAVE_INVALID, StateErrors.SAVE_CONFLICT)
DELETE = OpErrors.of(
    StateErrors.DELETE_FAILED, StateErrors.DELETE_INVALID, StateErrors.DELETE_CONFLICT
)
TRANSACTION = OpErrors.of(
    StateErrors.TRANSACTION_FAILED,
    StateErrors.TRANSACTION_INVALID,
    StateErrors.TRANSACTION_CONFLICT,
)
QUERY = OpErrors.of(StateErrors.QUERY_FAILED, StateErrors.QUERY_INVALID)
LIST_KEYS = OpErrors.of(StateErrors.LIST_KEYS_FAILED, StateErrors.LIST_KEYS_INVALID)
