"""gRPC side of the state tests: stubs over Tandem's generated protos and error decoding.

Imports ``protos``: the ``dapr`` SDK must never be imported next to this (see ``test_dapr_sdk``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2_grpc, state_pb2
from protos.tandem.v1 import tandem_pb2, tandem_pb2_grpc

__all__ = ["Grpc", "RpcFailure", "decode", "fail", "item", "op"]

T = TypeVar("T")
FIRST_WRITE = common_pb2.StateOptions.CONCURRENCY_FIRST_WRITE
LAST_WRITE = common_pb2.StateOptions.CONCURRENCY_LAST_WRITE
STRONG = common_pb2.StateOptions.CONSISTENCY_STRONG
EVENTUAL = common_pb2.StateOptions.CONSISTENCY_EVENTUAL


@dataclass
class RpcFailure:
    """A failed call: status code, message and the ErrorInfo of ``grpc-status-details-bin``."""

    code: grpc.StatusCode
    message: str
    reason: str | None = None  # ErrorInfo.reason (what DaprGrpcError.error_code() returns)
    domain: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    # every detail as protobuf JSON (snake_case, with "@type"), in order
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_code(self) -> str | None:
        """The Dapr ``ERR_*`` code Tandem puts in ErrorInfo.metadata["errorCode"]."""
        return self.metadata.get("errorCode")


def decode(err: grpc.RpcError) -> RpcFailure:
    call: Any = err
    status = rpc_status.from_call(call)
    failure = RpcFailure(code=call.code(), message=call.details() or "")
    if status is None:
        return failure
    for detail in status.details:
        failure.details.append(json_format.MessageToDict(detail, preserving_proto_field_name=True))
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            failure.reason = info.reason
            failure.domain = info.domain
            failure.metadata = dict(info.metadata)
    return failure


def fail(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> RpcFailure:
    """Call ``fn``; it must fail. Returns the decoded failure."""
    try:
        fn(*args, **kwargs)
    except grpc.RpcError as err:
        return decode(err)
    raise AssertionError(f"{getattr(fn, '_method', fn)!r} succeeded but was expected to fail")


def item(
    key: str,
    value: bytes = b"",
    *,
    etag: str | None = None,
    metadata: Mapping[str, str] | None = None,
    concurrency: int = 0,
    consistency: int = 0,
) -> common_pb2.StateItem:
    it = common_pb2.StateItem(
        key=key,
        value=value,
        metadata=dict(metadata or {}),
        options=common_pb2.StateOptions(
            concurrency=concurrency,  # type: ignore[arg-type]
            consistency=consistency,  # type: ignore[arg-type]
        ),
    )
    if etag is not None:
        it.etag.value = etag
    return it


def op(kind: str, state: common_pb2.StateItem) -> state_pb2.TransactionalStateOperation:
    return state_pb2.TransactionalStateOperation(operationType=kind, request=state)


class Grpc:
    """Sync stubs on one channel to a sidecar's gRPC API."""

    def __init__(self, target: str, timeout: float = 30.0) -> None:
        self.channel = grpc.insecure_channel(target)
        self.dapr = dapr_pb2_grpc.DaprStub(self.channel)
        self.tandem = tandem_pb2_grpc.TandemStub(self.channel)
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    # shorthands with the common arguments
    def save(self, store: str, *items: common_pb2.StateItem) -> None:
        self.dapr.SaveState(
            state_pb2.SaveStateRequest(store_name=store, states=list(items)), timeout=self.timeout
        )

    def get(
        self, store: str, key: str, metadata: Mapping[str, str] | None = None
    ) -> state_pb2.GetStateResponse:
        resp: state_pb2.GetStateResponse = self.dapr.GetState(
            state_pb2.GetStateRequest(store_name=store, key=key, metadata=dict(metadata or {})),
            timeout=self.timeout,
        )
        return resp

    def delete(self, store: str, key: str, etag: str | None = None, concurrency: int = 0) -> None:
        req = state_pb2.DeleteStateRequest(
            store_name=store,
            key=key,
            options=common_pb2.StateOptions(concurrency=concurrency),  # type: ignore[arg-type]
        )
        if etag is not None:
            req.etag.value = etag
        self.dapr.DeleteState(req, timeout=self.timeout)

    def bulk(self, store: str, keys: list[str]) -> list[state_pb2.BulkStateItem]:
        resp = self.dapr.GetBulkState(
            state_pb2.GetBulkStateRequest(store_name=store, keys=keys), timeout=self.timeout
        )
        return list(resp.items)

    def bulk_delete(self, store: str, *items: common_pb2.StateItem) -> None:
        self.dapr.DeleteBulkState(
            state_pb2.DeleteBulkStateRequest(store_name=store, states=list(items)),
            timeout=self.timeout,
        )

    def transact(
        self,
        store: str,
        *ops: state_pb2.TransactionalStateOperation,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.dapr.ExecuteStateTransaction(
            state_pb2.ExecuteStateTransactionRequest(
                storeName=store, operations=list(ops), metadata=dict(metadata or {})
            ),
            timeout=self.timeout,
        )

    def query(self, store: str, query: str) -> state_pb2.QueryStateResponse:
        resp: state_pb2.QueryStateResponse = self.dapr.QueryStateAlpha1(
            state_pb2.QueryStateRequest(store_name=store, query=query), timeout=self.timeout
        )
        return resp

    def list_keys(
        self, store: str, *, prefix: str = "", limit: int = 0, token: str = ""
    ) -> tandem_pb2.ListStateKeysResponse:
        resp: tandem_pb2.ListStateKeysResponse = self.tandem.ListStateKeysAlpha1(
            tandem_pb2.ListStateKeysRequest(
                store_name=store, prefix=prefix, limit=limit, token=token
            ),
            timeout=self.timeout,
        )
        return resp
