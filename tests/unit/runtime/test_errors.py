"""The one error table (runtime/errors.py + each block's table) and its two wire mappings.

Every entry is checked against Dapr's codes and statuses as /work/shared/reference/dapr-api.md
records them; a deliberate difference must be declared on the entry (``dapr_http_status`` /
``dapr_grpc_code`` plus ``note``). The HTTP body and the gRPC status of one error must carry the
same code, message and details.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections import defaultdict
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2

import runtime
from runtime.api.grpc.errors import to_grpc_status
from runtime.api.http.errors import error_response
from runtime.errors import TABLE, APIError, ErrorKind, Errors, FieldViolation
from runtime.services.state_errors import StateErrors

SC = grpc.StatusCode
H = HTTPStatus


def _import_all_runtime_modules() -> None:
    """Per-block tables register on import: load every runtime module."""
    for info in pkgutil.walk_packages(runtime.__path__, prefix="runtime."):
        importlib.import_module(info.name)


_import_all_runtime_modules()


@dataclass(frozen=True)
class Dapr:
    """What Dapr answers: its code (None: Dapr sends no ERR_ code), statuses, ErrorInfo reason."""

    code: str | None
    http: HTTPStatus
    grpc: grpc.StatusCode
    reason: str | None = None


TANDEM_ONLY = None  # no Dapr counterpart: the entry must say so in ``note``

# Transcribed from /work/shared/reference/dapr-api.md: section a.0 ("API token", "Error JSON
# format" and the "Error codes" table), a.2 (state operations: missing key 400, ETag mismatch
# 409, invalid ETag 400, unknown operation 400/Unimplemented), a.8 (health), b.1 (gRPC auth:
# Unauthenticated). Where the reference gives no gRPC code for a legacy 500 (ERR_STATE_BULK_GET)
# the pairing is Dapr's legacy one, Internal.
EXPECTED: dict[str, Dapr | None] = {
    # a.0 common rows; ERR_MALFORMED_REQUEST "also bad JSON body"
    "Errors.MALFORMED_REQUEST": Dapr("ERR_MALFORMED_REQUEST", H.BAD_REQUEST, SC.INVALID_ARGUMENT),
    "Errors.BODY_UNDECODABLE": Dapr("ERR_MALFORMED_REQUEST", H.BAD_REQUEST, SC.INVALID_ARGUMENT),
    "Errors.GRPC_REQUEST_UNDECODABLE": Dapr(
        "ERR_MALFORMED_REQUEST", H.BAD_REQUEST, SC.INVALID_ARGUMENT
    ),
    "Errors.BODY_TOO_LARGE": TANDEM_ONLY,
    "Errors.ROUTE_NOT_FOUND": TANDEM_ONLY,
    "Errors.METHOD_NOT_ALLOWED": TANDEM_ONLY,
    # a.0 common row: ERR_BODY_READ (400)
    "Errors.CLIENT_DISCONNECTED": Dapr("ERR_BODY_READ", H.BAD_REQUEST, SC.INVALID_ARGUMENT),
    "Errors.BODY_READ_TIMEOUT": Dapr("ERR_BODY_READ", H.BAD_REQUEST, SC.INVALID_ARGUMENT),
    "Errors.BODY_READ_FAILED": Dapr("ERR_BODY_READ", H.BAD_REQUEST, SC.INVALID_ARGUMENT),
    "Errors.SERVER_BUSY": TANDEM_ONLY,
    # a.1 service invocation: ERR_DIRECT_INVOKE, 404 when no app id found, 500 otherwise
    "InvokeErrors.APP_ID_MISSING": Dapr("ERR_DIRECT_INVOKE", H.NOT_FOUND, SC.NOT_FOUND),
    "InvokeErrors.APP_NOT_FOUND": Dapr("ERR_DIRECT_INVOKE", H.NOT_FOUND, SC.NOT_FOUND),
    "InvokeErrors.INVALID_REQUEST": Dapr("ERR_DIRECT_INVOKE", H.BAD_REQUEST, SC.INVALID_ARGUMENT),
    "InvokeErrors.UNREACHABLE": Dapr("ERR_DIRECT_INVOKE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "InvokeErrors.CALL_FAILED": Dapr("ERR_DIRECT_INVOKE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "InvokeErrors.TIMEOUT": Dapr("ERR_DIRECT_INVOKE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "InvokeErrors.BREAKER_OPEN": Dapr("ERR_DIRECT_INVOKE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "InvokeErrors.APP_UNHEALTHY": Dapr("ERR_DIRECT_INVOKE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "InvokeErrors.RESPONSE_TOO_LARGE": Dapr(
        "ERR_DIRECT_INVOKE", H.INTERNAL_SERVER_ERROR, SC.RESOURCE_EXHAUSTED
    ),
    "InvokeErrors.NO_APP_CHANNEL": Dapr("ERR_DIRECT_INVOKE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "InvokeErrors.NOT_GRPC_APP": Dapr("ERR_DIRECT_INVOKE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "SecurityErrors.ACCESS_DENIED": Dapr("ERR_DIRECT_INVOKE", H.FORBIDDEN, SC.PERMISSION_DENIED),
    "SecurityErrors.PEER_REJECTED": Dapr("ERR_DIRECT_INVOKE", H.FORBIDDEN, SC.PERMISSION_DENIED),
    "MetadataErrors.ATTRIBUTE_KEY_INVALID": TANDEM_ONLY,
    "MetadataErrors.ATTRIBUTES_TOO_LARGE": TANDEM_ONLY,
    "Errors.RPC_UNIMPLEMENTED": Dapr("ERR_API_UNIMPLEMENTED", H.NOT_IMPLEMENTED, SC.UNIMPLEMENTED),
    "Errors.INTERNAL": Dapr("ERR_INTERNAL", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    # a.0 "API token": 401 plain text, no code; b.1: gRPC Unauthenticated
    "Errors.API_TOKEN_MISSING": Dapr(None, H.UNAUTHORIZED, SC.UNAUTHENTICATED),
    "Errors.API_TOKEN_MISMATCH": Dapr(None, H.UNAUTHORIZED, SC.UNAUTHENTICATED),
    # a.8
    "Errors.HEALTH_NOT_READY": Dapr("ERR_HEALTH_NOT_READY", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "Errors.OUTBOUND_HEALTH_NOT_READY": Dapr(
        "ERR_OUTBOUND_HEALTH_NOT_READY", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    "Errors.HEALTH_APPID_NOT_MATCH": Dapr(
        "ERR_HEALTH_APPID_NOT_MATCH", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    # a.0 error-code table, state rows
    "StateErrors.STORE_NOT_CONFIGURED": Dapr(
        "ERR_STATE_STORE_NOT_CONFIGURED",
        H.INTERNAL_SERVER_ERROR,
        SC.FAILED_PRECONDITION,
        "DAPR_STATE_NOT_CONFIGURED",
    ),
    "StateErrors.STORE_NOT_FOUND": Dapr(
        "ERR_STATE_STORE_NOT_FOUND", H.BAD_REQUEST, SC.INVALID_ARGUMENT, "DAPR_STATE_NOT_FOUND"
    ),
    "StateErrors.ILLEGAL_KEY": Dapr(
        "ERR_MALFORMED_REQUEST", H.BAD_REQUEST, SC.INVALID_ARGUMENT, "DAPR_STATE_ILLEGAL_KEY"
    ),
    "StateErrors.KEY_REQUIRED": Dapr("ERR_MALFORMED_REQUEST", H.BAD_REQUEST, SC.INVALID_ARGUMENT),
    "StateErrors.UNSUPPORTED_OPERATION": Dapr(
        "ERR_NOT_SUPPORTED_STATE_OPERATION", H.BAD_REQUEST, SC.UNIMPLEMENTED
    ),
    "StateErrors.TOO_MANY_TRANSACTIONS": Dapr(
        "ERR_STATE_STORE_TOO_MANY_TRANSACTIONS",
        H.BAD_REQUEST,
        SC.INVALID_ARGUMENT,
        "DAPR_STATE_TOO_MANY_TRANSACTIONS",
    ),
    # "query failed / bad query JSON": 500
    "StateErrors.QUERY_INVALID": Dapr(
        "ERR_STATE_QUERY", H.INTERNAL_SERVER_ERROR, SC.INTERNAL, "DAPR_STATE_QUERY_FAILED"
    ),
    "StateErrors.QUERY_FAILED": Dapr(
        "ERR_STATE_QUERY", H.INTERNAL_SERVER_ERROR, SC.INTERNAL, "DAPR_STATE_QUERY_FAILED"
    ),
    "StateErrors.LIST_KEYS_LIMIT": TANDEM_ONLY,
    # a.0 "Error codes": the pub/sub rows (reason in the second column)
    "PubSubErrors.NOT_FOUND": Dapr(
        "ERR_PUBSUB_NOT_FOUND", H.NOT_FOUND, SC.INVALID_ARGUMENT, "DAPR_PUBSUB_NOT_FOUND"
    ),
    "PubSubErrors.NOT_CONFIGURED": Dapr(
        "ERR_PUBSUB_NOT_CONFIGURED",
        H.BAD_REQUEST,
        SC.FAILED_PRECONDITION,
        "DAPR_PUBSUB_NOT_CONFIGURED",
    ),
    "PubSubErrors.NAME_EMPTY": Dapr(
        "ERR_PUBSUB_EMPTY", H.NOT_FOUND, SC.INVALID_ARGUMENT, "DAPR_PUBSUB_NAME_EMPTY"
    ),
    "PubSubErrors.TOPIC_EMPTY": Dapr(
        "ERR_TOPIC_NAME_EMPTY", H.NOT_FOUND, SC.INVALID_ARGUMENT, "DAPR_PUBSUB_TOPIC_NAME_EMPTY"
    ),
    "PubSubErrors.FORBIDDEN": Dapr(
        "ERR_PUBSUB_FORBIDDEN", H.FORBIDDEN, SC.PERMISSION_DENIED, "DAPR_PUBSUB_FORBIDDEN"
    ),
    "PubSubErrors.PUBLISH_MESSAGE": Dapr(
        "ERR_PUBSUB_PUBLISH_MESSAGE",
        H.INTERNAL_SERVER_ERROR,
        SC.INTERNAL,
        "DAPR_PUBSUB_PUBLISH_MESSAGE",
    ),
    "PubSubErrors.REQUEST_METADATA": Dapr(
        "ERR_PUBSUB_REQUEST_METADATA",
        H.BAD_REQUEST,
        SC.INVALID_ARGUMENT,
        "DAPR_PUBSUB_METADATA_DESERIALIZATION",
    ),
    "PubSubErrors.CLOUD_EVENT": Dapr(
        "ERR_PUBSUB_CLOUD_EVENTS_SER",
        H.INTERNAL_SERVER_ERROR,
        SC.INVALID_ARGUMENT,
        "DAPR_PUBSUB_CLOUD_EVENT_CREATION",
    ),
    "PubSubErrors.OUTBOX_PUBLISH": Dapr("ERR_PUBLISH_OUTBOX", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "PubSubErrors.EVENTS_SER": Dapr(
        "ERR_PUBSUB_EVENTS_SER", H.BAD_REQUEST, SC.INVALID_ARGUMENT, "DAPR_PUBSUB_MARSHAL_EVENTS"
    ),
    "StateErrors.FEATURE_NOT_SUPPORTED": Dapr(
        "ERR_STATE_STORE_NOT_SUPPORTED", H.INTERNAL_SERVER_ERROR, SC.UNIMPLEMENTED
    ),
    # "Unimplemented / Internal": transactions / query
    "StateErrors.TRANSACTIONS_NOT_SUPPORTED": Dapr(
        "ERR_STATE_STORE_NOT_SUPPORTED",
        H.INTERNAL_SERVER_ERROR,
        SC.UNIMPLEMENTED,
        "DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED",
    ),
    "StateErrors.QUERYING_NOT_SUPPORTED": Dapr(
        "ERR_STATE_STORE_NOT_SUPPORTED",
        H.INTERNAL_SERVER_ERROR,
        SC.INTERNAL,
        "DAPR_STATE_QUERYING_NOT_SUPPORTED",
    ),
    # ERR_STATE_GET / BULK_GET / TRANSACTION: 500 whatever the cause
    "StateErrors.GET_FAILED": Dapr("ERR_STATE_GET", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "StateErrors.GET_INVALID": Dapr("ERR_STATE_GET", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "StateErrors.BULK_GET_FAILED": Dapr("ERR_STATE_BULK_GET", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "StateErrors.BULK_GET_INVALID": Dapr(
        "ERR_STATE_BULK_GET", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    "StateErrors.TRANSACTION_FAILED": Dapr(
        "ERR_STATE_TRANSACTION", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    "StateErrors.TRANSACTION_INVALID": Dapr(
        "ERR_STATE_TRANSACTION", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    "StateErrors.TRANSACTION_CONFLICT": Dapr(
        "ERR_STATE_TRANSACTION", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    # ERR_STATE_SAVE / ERR_STATE_DELETE: 409 Aborted on ETag mismatch, 400 on invalid ETag, else 500
    "StateErrors.SAVE_FAILED": Dapr("ERR_STATE_SAVE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "StateErrors.SAVE_INVALID": Dapr("ERR_STATE_SAVE", H.BAD_REQUEST, SC.INVALID_ARGUMENT),
    "StateErrors.SAVE_CONFLICT": Dapr("ERR_STATE_SAVE", H.CONFLICT, SC.ABORTED),
    "StateErrors.DELETE_FAILED": Dapr("ERR_STATE_DELETE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "StateErrors.DELETE_INVALID": Dapr("ERR_STATE_DELETE", H.BAD_REQUEST, SC.INVALID_ARGUMENT),
    "StateErrors.DELETE_CONFLICT": Dapr("ERR_STATE_DELETE", H.CONFLICT, SC.ABORTED),
    # Tandem's key listing API
    "StateErrors.LIST_KEYS_FAILED": TANDEM_ONLY,
    "StateErrors.LIST_KEYS_INVALID": TANDEM_ONLY,
    # a.0 error-code table, configuration rows; a.5 (subscribe needs the app channel)
    "ConfigurationErrors.STORE_NOT_CONFIGURED": Dapr(
        "ERR_CONFIGURATION_STORE_NOT_CONFIGURED", H.INTERNAL_SERVER_ERROR, SC.FAILED_PRECONDITION
    ),
    "ConfigurationErrors.STORE_NOT_FOUND": Dapr(
        "ERR_CONFIGURATION_STORE_NOT_FOUND", H.BAD_REQUEST, SC.INVALID_ARGUMENT
    ),
    "ConfigurationErrors.GET": Dapr("ERR_CONFIGURATION_GET", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "ConfigurationErrors.GET_INVALID": Dapr(
        "ERR_CONFIGURATION_GET", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    "ConfigurationErrors.SUBSCRIBE": Dapr(
        "ERR_CONFIGURATION_SUBSCRIBE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    "ConfigurationErrors.SUBSCRIBE_INVALID": Dapr(
        "ERR_CONFIGURATION_SUBSCRIBE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    "ConfigurationErrors.UNSUBSCRIBE": Dapr(
        "ERR_CONFIGURATION_UNSUBSCRIBE", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    "ConfigurationErrors.KEY_EMPTY": TANDEM_ONLY,
    "ConfigurationErrors.APP_CHANNEL_NIL": Dapr(
        "ERR_APP_CHANNEL_NIL", H.INTERNAL_SERVER_ERROR, SC.INTERNAL
    ),
    "StateErrors.KEY_TOO_LONG": TANDEM_ONLY,
    "StateErrors.KEY_NUL": TANDEM_ONLY,
    # a.0 error-code table, secret rows (a.4: 401 for an unknown store, 500 store errors)
    "SecretsErrors.STORES_NOT_CONFIGURED": Dapr(
        "ERR_SECRET_STORES_NOT_CONFIGURED", H.INTERNAL_SERVER_ERROR, SC.FAILED_PRECONDITION
    ),
    "SecretsErrors.STORE_NOT_FOUND": Dapr(
        "ERR_SECRET_STORE_NOT_FOUND", H.UNAUTHORIZED, SC.INVALID_ARGUMENT
    ),
    "SecretsErrors.PERMISSION_DENIED": Dapr(
        "ERR_PERMISSION_DENIED", H.FORBIDDEN, SC.PERMISSION_DENIED
    ),
    "SecretsErrors.KEY_INVALID": TANDEM_ONLY,
    "SecretsErrors.SECRET_NOT_FOUND": Dapr("ERR_SECRET_GET", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "SecretsErrors.GET_FAILED": Dapr("ERR_SECRET_GET", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
    "SecretsErrors.BULK_GET_FAILED": Dapr("ERR_SECRET_GET", H.INTERNAL_SERVER_ERROR, SC.INTERNAL),
}

ENTRIES = sorted(TABLE)


def test_every_entry_is_in_the_expected_table_and_back() -> None:
    assert set(TABLE) == set(EXPECTED)


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_matches_dapr_or_declares_the_difference(name: str) -> None:
    kind = TABLE[name]
    dapr = EXPECTED[name]
    assert kind.code.startswith("ERR_")
    assert kind.code == kind.code.upper()
    if dapr is None:
        assert kind.note, f"{name}: no Dapr counterpart, and no note saying so"
        assert kind.dapr_http_status is None
        assert kind.dapr_grpc_code is None
        return
    if dapr.code is None:
        assert kind.note, f"{name}: Dapr sends no error code here; the note must say so"
    else:
        assert kind.code == dapr.code
    assert kind.reason == dapr.reason
    # a difference is declared with Dapr's value and a reason; a declaration is a real difference
    for ours, declared, theirs in (
        (kind.http_status, kind.dapr_http_status, dapr.http),
        (kind.grpc_code, kind.dapr_grpc_code, dapr.grpc),
    ):
        if ours == theirs:
            assert declared is None, f"{name}: declares a difference that is not one"
        else:
            assert declared == theirs, f"{name}: undeclared difference {ours} vs Dapr {theirs}"
            assert kind.note, f"{name}: a difference needs a note"


def test_entries_are_registered_under_their_names() -> None:
    assert TABLE["StateErrors.STORE_NOT_FOUND"] is StateErrors.STORE_NOT_FOUND
    assert StateErrors.STORE_NOT_FOUND.name == "StateErrors.STORE_NOT_FOUND"
    assert TABLE["Errors.INTERNAL"] is Errors.INTERNAL


def test_no_error_is_defined_twice() -> None:
    seen: dict[tuple[Any, ...], str] = {}
    for name, kind in TABLE.items():
        key = (kind.code, kind.reason, kind.http_status, kind.grpc_code, kind.message)
        assert key not in seen, f"{name} repeats {seen[key]}"
        seen[key] = name


def test_a_table_cannot_redefine_an_entry() -> None:
    from runtime.errors import ErrorTable

    class Scratch(ErrorTable):
        ONE = ErrorKind(
            code="ERR_X", http_status=H.BAD_REQUEST, grpc_code=SC.INVALID_ARGUMENT, message="x"
        )

    try:
        with pytest.raises(ValueError, match="defined twice"):

            class Scratch(ErrorTable):  # type: ignore[no-redef]
                ONE = ErrorKind(
                    code="ERR_X",
                    http_status=H.BAD_REQUEST,
                    grpc_code=SC.INVALID_ARGUMENT,
                    message="x",
                )
    finally:
        del TABLE["Scratch.ONE"]


# ---- the wire mappings ---------------------------------------------------------------------


def decode_grpc(err: APIError) -> tuple[grpc.Status, status_pb2.Status, list[dict[str, Any]]]:
    status = to_grpc_status(err)
    (raw,) = [v for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
    assert isinstance(raw, bytes)
    rich = status_pb2.Status.FromString(raw)
    details = [json_format.MessageToDict(d, preserving_proto_field_name=True) for d in rich.details]
    return status, rich, details


def decode_http(err: APIError) -> tuple[int, dict[str, Any]]:
    resp = error_response(err)
    assert resp.content_type == "application/json"
    assert resp.body is not None
    body = json.loads(bytes(resp.body))  # type: ignore[arg-type]
    assert isinstance(body, dict)
    return resp.status, body


def _sample(kind: ErrorKind, **kw: Any) -> APIError:
    return kind.build(defaultdict(lambda: "x"), **kw)


def sample_errors() -> list[APIError]:
    out = [_sample(kind) for kind in TABLE.values()]
    out += [
        StateErrors.STORE_NOT_FOUND(name="nope", metadata={"appID": "orders"}),
        StateErrors.ILLEGAL_KEY(
            key="a||b", resource="s", violations=[FieldViolation("a||b", "bad key")]
        ),
        StateErrors.SAVE_INVALID(
            store="s",
            detail="bad ttl",
            resource="s",
            violations=[FieldViolation("ttlInSeconds", "bad ttl")],
        ),
        StateErrors.GET_FAILED(key="k", store="s", detail="boom"),
    ]
    return out


def _strip(detail: dict[str, Any]) -> dict[str, Any]:
    """Drops empty fields (protobuf JSON leaves them out) and the gRPC-only errorCode."""
    out = {k: v for k, v in detail.items() if v not in ("", {}, [])}
    if "metadata" in out:
        out["metadata"] = {k: v for k, v in out["metadata"].items() if k != "errorCode"}
        if not out["metadata"]:
            del out["metadata"]
    return out


@pytest.mark.parametrize("err", sample_errors(), ids=lambda e: f"{e.kind.name}-{e.message[:20]}")
def test_http_and_grpc_carry_the_same_code_message_and_details(err: APIError) -> None:
    status, body = decode_http(err)
    assert status == int(err.kind.http_status)
    assert body["errorCode"] == err.code
    assert body["message"] == err.message
    assert set(body) <= {"errorCode", "message", "details"}

    grpc_status, rich, grpc_details = decode_grpc(err)
    assert grpc_status.code == err.kind.grpc_code
    assert grpc_status.details == err.message
    assert rich.code == err.kind.grpc_code.value[0]
    assert rich.message == err.message
    info = grpc_details[0]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["domain"] == "dapr.io"
    assert info["reason"] == (err.kind.reason or err.code)
    assert info["metadata"] == {**err.metadata, "errorCode": err.code}

    if "details" in body:
        assert [_strip(d) for d in body["details"]] == [_strip(d) for d in grpc_details]
    else:  # Dapr's legacy form: the gRPC side has only the ErrorInfo naming the code
        assert err.kind.reason is None
        assert not err.metadata
        assert not err.violations
        assert len(grpc_details) == 1


def test_illegal_key_has_dapr_three_details() -> None:
    """reference a.0: ``ke||y1`` → 400 ERR_MALFORMED_REQUEST with ErrorInfo, ResourceInfo and
    BadRequest (snake_case keys inside ``details``)."""
    message = "input key/keyPrefix 'ke||y1' can't contain '||'"
    err = StateErrors.ILLEGAL_KEY(
        key="ke||y1", resource="mystore", violations=[FieldViolation("ke||y1", message)]
    )
    status, body = decode_http(err)
    assert status == 400
    assert body == {
        "errorCode": "ERR_MALFORMED_REQUEST",
        "message": message,
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "DAPR_STATE_ILLEGAL_KEY",
                "domain": "dapr.io",
                "metadata": {},
            },
            {
                "@type": "type.googleapis.com/google.rpc.ResourceInfo",
                "resource_type": "state",
                "resource_name": "mystore",
                "owner": "",
                "description": "",
            },
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "field_violations": [{"field": "ke||y1", "description": message}],
            },
        ],
    }
    _, rich, _ = decode_grpc(err)
    resource = error_details_pb2.ResourceInfo()
    assert rich.details[1].Unpack(resource)
    assert (resource.resource_type, resource.resource_name) == ("state", "mystore")
    bad = error_details_pb2.BadRequest()
    assert rich.details[2].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [("ke||y1", message)]


def test_store_not_found_body_matches_dapr_example() -> None:
    """reference a.0: the ERR_STATE_STORE_NOT_FOUND example (ErrorInfo only)."""
    err = StateErrors.STORE_NOT_FOUND(name="mystore-doesnt-exist", metadata={"appID": "app"})
    status, body = decode_http(err)
    assert status == 400
    assert body == {
        "errorCode": "ERR_STATE_STORE_NOT_FOUND",
        "message": "state store mystore-doesnt-exist is not found",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "DAPR_STATE_NOT_FOUND",
                "domain": "dapr.io",
                "metadata": {"appID": "app"},
            }
        ],
    }


def test_legacy_error_body_has_no_details() -> None:
    """reference a.0: legacy errors are ``{"errorCode", "message"}``."""
    err = StateErrors.GET_FAILED(key="k", store="s", detail="boom")
    assert decode_http(err) == (
        500,
        {"errorCode": "ERR_STATE_GET", "message": "fail to get k from state store s: boom"},
    )


def test_message_fields_are_not_reinterpreted() -> None:
    """User input in a field is inserted as is, braces and all."""
    err = StateErrors.ILLEGAL_KEY(key="{0}{x}||", resource="s")
    assert err.message == "input key/keyPrefix '{0}{x}||' can't contain '||'"


def test_every_status_fits_a_clients_headers_and_both_protocols_agree() -> None:
    """Whatever an error echoes, its gRPC status stays far below the 8 KiB header limit, and
    the HTTP body carries the same (cut) texts."""
    huge = "€" * 5000
    err = StateErrors.ILLEGAL_KEY(
        key=huge,
        resource=huge,
        metadata={"appID": huge},
        violations=[FieldViolation(huge, huge)] * 10,
    )
    status = to_grpc_status(err)
    trailer = dict(status.trailing_metadata)["grpc-status-details-bin"]
    encoded = len(status.details.encode("utf-8")) * 3 + len(trailer) * 4 // 3
    assert encoded < 4096
    body = json.loads(error_response(err).body)  # type: ignore[arg-type]
    assert body["message"] == status.details
    decoded = status_pb2.Status.FromString(trailer)
    bad = error_details_pb2.BadRequest()
    decoded.details[-1].Unpack(bad)
    assert [{"field": v.field, "description": v.description} for v in bad.field_violations] == body[
        "details"
    ][-1]["field_violations"]
    assert 1 <= len(bad.field_violations) < 10
