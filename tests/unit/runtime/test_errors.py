"""The one error model (runtime/errors.py) and its two wire mappings.

Every ``APIError`` subclass anywhere in the runtime must pair its HTTP status with a gRPC code
the way Dapr does, and the HTTP JSON body and the gRPC ``google.rpc.Status`` of one error must
carry the same code and reason.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from http import HTTPStatus

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

import runtime
from runtime.api.grpc.errors import to_grpc_status
from runtime.api.http.errors import error_response
from runtime.errors import APIError, ErrorCode, Internal, InvalidArgument, NotFound

SC = grpc.StatusCode

# HTTP status -> the gRPC codes Dapr pairs with it.
PAIRS: dict[HTTPStatus, frozenset[grpc.StatusCode]] = {
    HTTPStatus.BAD_REQUEST: frozenset({SC.INVALID_ARGUMENT}),
    HTTPStatus.UNAUTHORIZED: frozenset({SC.UNAUTHENTICATED}),
    HTTPStatus.FORBIDDEN: frozenset({SC.PERMISSION_DENIED}),
    HTTPStatus.NOT_FOUND: frozenset({SC.NOT_FOUND}),
    HTTPStatus.CONFLICT: frozenset({SC.ABORTED}),
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: frozenset({SC.RESOURCE_EXHAUSTED}),
    # INTERNAL for failures; FAILED_PRECONDITION when nothing is configured; UNIMPLEMENTED is
    # Dapr's pairing for "the store lacks the feature" (ERR_STATE_STORE_NOT_SUPPORTED).
    HTTPStatus.INTERNAL_SERVER_ERROR: frozenset(
        {SC.INTERNAL, SC.FAILED_PRECONDITION, SC.UNIMPLEMENTED}
    ),
    HTTPStatus.NOT_IMPLEMENTED: frozenset({SC.UNIMPLEMENTED}),
    HTTPStatus.METHOD_NOT_ALLOWED: frozenset({SC.UNIMPLEMENTED}),
    HTTPStatus.SERVICE_UNAVAILABLE: frozenset({SC.UNAVAILABLE}),
}

# Classes that follow one of Dapr's irregular pairings, each with its reason. Nothing else may.
IRREGULAR: dict[str, tuple[HTTPStatus, grpc.StatusCode]] = {
    # ERR_NOT_SUPPORTED_STATE_OPERATION: Dapr's HTTP API answers 400, its gRPC API Unimplemented.
    "runtime.errors.UnsupportedOperation": (HTTPStatus.BAD_REQUEST, SC.UNIMPLEMENTED),
}


def _import_all_runtime_modules() -> None:
    for info in pkgutil.walk_packages(runtime.__path__, prefix="runtime."):
        importlib.import_module(info.name)


def _all_subclasses(cls: type[APIError]) -> list[type[APIError]]:
    out: list[type[APIError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


_import_all_runtime_modules()
ERROR_CLASSES: list[type[APIError]] = [APIError, *_all_subclasses(APIError)]


def qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def test_the_walk_found_the_known_classes() -> None:
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {
        "InvalidArgument",
        "NotFound",
        "Conflict",
        "PermissionDenied",
        "Unauthenticated",
        "PayloadTooLarge",
        "FailedPrecondition",
        "Unimplemented",
        "NotSupported",
        "Unavailable",
        "Internal",
    } <= names


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=qualname)
def test_http_and_grpc_status_are_a_consistent_pair(cls: type[APIError]) -> None:
    pair = (cls.http_status, cls.grpc_status)
    irregular = IRREGULAR.get(qualname(cls))
    if irregular is not None:
        assert pair == irregular
        return
    assert cls.http_status in PAIRS, f"{qualname(cls)}: HTTP {cls.http_status} not in the table"
    assert cls.grpc_status in PAIRS[cls.http_status], (
        f"{qualname(cls)}: HTTP {int(cls.http_status)} paired with {cls.grpc_status.name}"
    )


def test_irregular_table_names_existing_classes() -> None:
    assert set(IRREGULAR) <= {qualname(c) for c in ERROR_CLASSES}


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=qualname)
def test_default_code_is_an_error_code(cls: type[APIError]) -> None:
    assert isinstance(cls.default_code, ErrorCode)
    err = cls("boom")
    assert err.code is cls.default_code
    assert err.reason == cls.default_code.value
    assert err.message == "boom"
    assert str(err) == "boom"


def test_error_codes_are_unique_and_prefixed() -> None:
    values = [c.value for c in ErrorCode]
    assert len(values) == len(set(values))
    for value in values:
        assert value.startswith("ERR_"), value
        assert value == value.upper(), value


def decode_grpc(status: grpc.Status) -> tuple[status_pb2.Status, error_details_pb2.ErrorInfo]:
    details = [v for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
    assert len(details) == 1
    raw = details[0]
    assert isinstance(raw, bytes)
    rich = status_pb2.Status.FromString(raw)
    infos = [d for d in rich.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    assert len(infos) == 1
    info = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info)
    return rich, info


def decode_http(err: APIError) -> tuple[int, dict[str, object]]:
    resp = error_response(err)
    assert resp.content_type == "application/json"
    assert resp.body is not None
    body = json.loads(bytes(resp.body))  # type: ignore[arg-type]
    assert isinstance(body, dict)
    return resp.status, body


def sample_errors() -> list[APIError]:
    out: list[APIError] = [cls(f"{cls.__name__} happened") for cls in ERROR_CLASSES]
    out += [
        NotFound(
            "state store nope is not found",
            code=ErrorCode.STATE_STORE_NOT_FOUND,
            reason="DAPR_STATE_NOT_FOUND",
            metadata={"appID": "orders"},
        ),
        InvalidArgument(
            "bad key", code=ErrorCode.MALFORMED_REQUEST, reason="DAPR_STATE_ILLEGAL_KEY"
        ),
        Internal("get failed", code=ErrorCode.STATE_GET),
    ]
    return out


@pytest.mark.parametrize("err", sample_errors(), ids=lambda e: f"{type(e).__name__}-{e.code}")
def test_http_and_grpc_mappings_carry_the_same_code_and_reason(err: APIError) -> None:
    status, body = decode_http(err)
    assert status == int(err.http_status)
    assert body["errorCode"] == err.code.value
    assert body["message"] == err.message
    assert set(body) <= {"errorCode", "message", "details"}

    grpc_status = to_grpc_status(err)
    assert grpc_status.code == err.grpc_status
    assert grpc_status.details == err.message
    rich, info = decode_grpc(grpc_status)
    assert rich.code == err.grpc_status.value[0]
    assert rich.message == err.message
    assert info.domain == "dapr.io"
    assert info.reason == err.reason
    assert info.metadata["errorCode"] == err.code.value
    for k, v in err.metadata.items():
        assert info.metadata[k] == v

    if "details" in body:
        details = body["details"]
        assert isinstance(details, list)
        (http_info,) = details
        assert http_info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
        assert http_info["domain"] == "dapr.io"
        assert http_info["reason"] == info.reason
        assert http_info["metadata"] == err.metadata
    else:
        assert err.reason == err.code.value
        assert not err.metadata


def test_rich_error_body_matches_dapr_example() -> None:
    """reference a.0: the ERR_STATE_STORE_NOT_FOUND example."""
    err = InvalidArgument(
        "state store mystore-doesnt-exist is not found",
        code=ErrorCode.STATE_STORE_NOT_FOUND,
        reason="DAPR_STATE_NOT_FOUND",
        metadata={"appID": "app"},
    )
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
