"""The one API error table. Services raise its entries; each protocol maps them to the wire once.

An entry (``ErrorKind``) is defined once, in an ``ErrorTable`` subclass: its Dapr ``ERR_*`` code,
HTTP status, gRPC code, message template and, for Dapr's "rich" errors, the ErrorInfo reason
and the ResourceInfo type. A raise site names the entry and fills in the message::

    raise StateErrors.STORE_NOT_FOUND(name=store, metadata={"appID": app_id})

Cross-cutting entries live here (``Errors``); each building block keeps its own table beside its
service (``runtime/services/state_errors.py``). Where Tandem deliberately answers differently
from Dapr, the entry records Dapr's status in ``dapr_http_status`` / ``dapr_grpc_code`` and why in
``note``; entries with no Dapr counterpart say so in ``note`` (tests/unit/runtime/test_errors.py
checks every entry against the reference).

One code may have several entries when Dapr answers it differently by cause (ERR_STATE_SAVE is
409 for a stale ETag, 400 for a malformed one, 500 otherwise); each entry has exactly one status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus

import grpc

__all__ = [
    "DOMAIN",
    "MAX_ECHO_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_VIOLATIONS",
    "TABLE",
    "APIError",
    "ErrorKind",
    "ErrorTable",
    "Errors",
    "FieldViolation",
]

DOMAIN = "dapr.io"
SC = grpc.StatusCode

# Caps on the texts an error carries to the wire (``APIError.bounded``, applied by both protocol
# mappings alike): a gRPC status travels in headers (percent-encoded message, base64 details)
# that clients cap at 8 KiB, and an overflow shows as RESOURCE_EXHAUSTED instead of the error.
# With these caps the encoded status stays under 4 KiB even when every byte is non-ASCII.
MAX_MESSAGE_BYTES = 512
MAX_ECHO_BYTES = 128  # each violation field and description, resource name, metadata value
MAX_VIOLATIONS = 2


def _clip(text: str, limit: int) -> str:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "..."


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One google.rpc.BadRequest field violation: which input and what is wrong with it."""

    field: str
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorKind:
    """One entry of the table. Call it to build the error: ``KIND(**message_fields)``.

    ``reason`` set = a Dapr rich error: the HTTP body carries the ``details`` array (ErrorInfo,
    then ResourceInfo when ``resource_type`` is set and a resource is named, then BadRequest
    when violations are given). Unset = Dapr's legacy form (``{"errorCode","message"}`` only);
    gRPC still carries an ErrorInfo whose reason is the code, so SDKs can read it.
    """

    code: str
    http_status: HTTPStatus
    grpc_code: grpc.StatusCode
    message: str  # str.format template over the raise site's keyword fields
    reason: str | None = None
    resource_type: str | None = None
    dapr_http_status: HTTPStatus | None = None  # set only where Tandem differs from Dapr
    dapr_grpc_code: grpc.StatusCode | None = None  # set only where Tandem differs from Dapr
    note: str = ""  # why it differs, or that Dapr has no such error
    name: str = field(default="", compare=False)  # "Table.ENTRY", set on registration

    def __call__(
        self,
        *,
        resource: str | None = None,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[FieldViolation] = (),
        **fields: object,
    ) -> APIError:
        return self.build(fields, resource=resource, metadata=metadata, violations=violations)

    def build(
        self,
        fields: Mapping[str, object],
        *,
        resource: str | None = None,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[FieldViolation] = (),
    ) -> APIError:
        """As calling the entry, with the message fields given as a mapping."""
        return APIError(
            self,
            self.message.format_map(fields),
            resource=resource,
            metadata=metadata,
            violations=violations,
        )


TABLE: dict[str, ErrorKind] = {}


class ErrorTable:
    """Base of a table: every ``ErrorKind`` class attribute is registered as ``Class.ATTR``."""

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        for attr, kind in vars(cls).items():
            if not isinstance(kind, ErrorKind):
                continue
            name = f"{cls.__name__}.{attr}"
            if name in TABLE:
                raise ValueError(f"error entry {name} defined twice")
            object.__setattr__(kind, "name", name)
            TABLE[name] = kind


class APIError(Exception):
    """An error a caller sees: an entry of the table plus this occurrence's facts."""

    __slots__ = ("kind", "message", "metadata", "resource", "violations")

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        resource: str | None = None,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.resource = resource
        self.metadata: dict[str, str] = dict(metadata or {})
        self.violations = tuple(violations)

    @property
    def code(self) -> str:
        return self.kind.code

    def bounded(self) -> APIError:
        """This error with every text cut to the wire caps (itself when nothing is cut)."""
        violations = tuple(
            FieldViolation(_clip(v.field, MAX_ECHO_BYTES), _clip(v.description, MAX_ECHO_BYTES))
            for v in self.violations[:MAX_VIOLATIONS]
        )
        bounded = APIError(
            self.kind,
            _clip(self.message, MAX_MESSAGE_BYTES),
            resource=None if self.resource is None else _clip(self.resource, MAX_ECHO_BYTES),
            metadata={k: _clip(v, MAX_ECHO_BYTES) for k, v in self.metadata.items()},
            violations=violations,
        )
        unchanged = (
            bounded.message == self.message
            and bounded.resource == self.resource
            and bounded.metadata == self.metadata
            and bounded.violations == self.violations
        )
        return self if unchanged else bounded

    @property
    def reason(self) -> str:
        """The gRPC ErrorInfo reason (what ``DaprGrpcError.error_code()`` returns)."""
        return self.kind.reason or self.kind.code

    @property
    def http_status(self) -> HTTPStatus:
        return self.kind.http_status

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return self.kind.grpc_code


class Errors(ErrorTable):
    """Entries every API shares."""

    MALFORMED_REQUEST = ErrorKind(
        code="ERR_MALFORMED_REQUEST",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="{detail}",
    )
    BODY_UNDECODABLE = ErrorKind(
        code="ERR_MALFORMED_REQUEST",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="failed deserializing HTTP body: {detail}",
    )
    GRPC_REQUEST_UNDECODABLE = ErrorKind(
        code="ERR_MALFORMED_REQUEST",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="failed to decode the {method} request message",
        note="gRPC only; grpc-go (Dapr) answers Internal from its codec, with no ERR_ code",
    )
    BODY_TOO_LARGE = ErrorKind(
        code="ERR_BODY_TOO_LARGE",
        http_status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        grpc_code=SC.RESOURCE_EXHAUSTED,
        message="request body too large: {detail}",
        note="no ERR_ code in Dapr's table: Dapr's HTTP server refuses the body itself, and "
        "on gRPC the transport answers RESOURCE_EXHAUSTED before any handler runs",
    )
    ROUTE_NOT_FOUND = ErrorKind(
        code="ERR_BAD_REQUEST",
        http_status=HTTPStatus.NOT_FOUND,
        grpc_code=SC.UNIMPLEMENTED,
        message="no API route for {method} {path}",
        note="HTTP only; Dapr's router answers a plain 404 (gRPC answers an unknown method "
        "UNIMPLEMENTED itself)",
    )
    METHOD_NOT_ALLOWED = ErrorKind(
        code="ERR_BAD_REQUEST",
        http_status=HTTPStatus.METHOD_NOT_ALLOWED,
        grpc_code=SC.UNIMPLEMENTED,
        message="method {method} not allowed on {path}",
        note="HTTP only; Dapr's router answers a plain 405",
    )
    CLIENT_DISCONNECTED = ErrorKind(
        code="ERR_BODY_READ",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="client disconnected",
        note="HTTP only, answered to no one (the client left mid-request)",
    )
    BODY_READ_TIMEOUT = ErrorKind(
        code="ERR_BODY_READ",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="request body not received within {seconds}s",
        note="HTTP only; Dapr has no body read deadline",
    )
    BODY_READ_FAILED = ErrorKind(
        code="ERR_BODY_READ",
        http_status=HTTPStatus.BAD_REQUEST,
        grpc_code=SC.INVALID_ARGUMENT,
        message="failed reading the request body: {detail}",
    )
    SERVER_BUSY = ErrorKind(
        code="ERR_SERVER_BUSY",
        http_status=HTTPStatus.SERVICE_UNAVAILABLE,
        grpc_code=SC.UNAVAILABLE,
        message="too many request body bytes in flight; retry later",
        note="Tandem's bound on request body bytes in flight (HTTP); Dapr has none",
    )
    RPC_UNIMPLEMENTED = ErrorKind(
        code="ERR_API_UNIMPLEMENTED",
        http_status=HTTPStatus.NOT_IMPLEMENTED,
        grpc_code=SC.UNIMPLEMENTED,
        message="{method} is not implemented",
    )
    INTERNAL = ErrorKind(
        code="ERR_INTERNAL",
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="internal error",
    )
    API_TOKEN_MISSING = ErrorKind(
        code="ERR_UNAUTHENTICATED",
        http_status=HTTPStatus.UNAUTHORIZED,
        grpc_code=SC.UNAUTHENTICATED,
        message="missing api token in request metadata",
        note="Dapr's gRPC message; Dapr's HTTP API answers 401 with the plain-text body "
        "'invalid api token' and no code, Tandem the JSON error body on both protocols",
    )
    API_TOKEN_MISMATCH = ErrorKind(
        code="ERR_UNAUTHENTICATED",
        http_status=HTTPStatus.UNAUTHORIZED,
        grpc_code=SC.UNAUTHENTICATED,
        message="authentication error: api token mismatch",
        note="Dapr's gRPC message; Dapr's HTTP API answers 401 with the plain-text body "
        "'invalid api token' and no code, Tandem the JSON error body on both protocols",
    )
    HEALTH_NOT_READY = ErrorKind(
        code="ERR_HEALTH_NOT_READY",
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="dapr is not ready: {missing}",
    )
    OUTBOUND_HEALTH_NOT_READY = ErrorKind(
        code="ERR_OUTBOUND_HEALTH_NOT_READY",
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="dapr is not ready: [outbound]",
    )
    HEALTH_APPID_NOT_MATCH = ErrorKind(
        code="ERR_HEALTH_APPID_NOT_MATCH",
        http_status=HTTPStatus.INTERNAL_SERVER_ERROR,
        grpc_code=SC.INTERNAL,
        message="dapr app-id does not match: {app_id}",
    )
