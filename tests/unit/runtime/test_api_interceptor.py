"""The gRPC API interceptor on a real grpc.aio server, for all four handler kinds.

A tiny service (``test.v1.Echo``, StringValue in and out) is registered with the interceptor:
the API token must be checked before any handler runs, undecodable request bytes must answer
INVALID_ARGUMENT ``ERR_MALFORMED_REQUEST`` without Python internals, and errors must map to
the table's status with details, whatever the handler kind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from google.protobuf import wrappers_pb2
from google.rpc import error_details_pb2, status_pb2

from runtime.api.grpc.interceptor import ApiInterceptor
from runtime.services.state_errors import StateErrors
from tests.raw_grpc import raw_grpc_call

SERVICE = "test.v1.Echo"
TOKEN = "s3cr3t"
Context = grpc.aio.ServicerContext[Any, Any]
Text = wrappers_pb2.StringValue

CALLS: list[str] = []  # handlers that ran


def _text(value: str) -> Text:
    return Text(value=value)


async def unary_unary(request: Text, context: Context) -> Text:
    CALLS.append("unary_unary")
    parts = request.value.split(",")
    if "fail" in parts:
        raise StateErrors.STORE_NOT_FOUND(name="nope")
    if "crash" in parts:
        raise RuntimeError("secret internals")
    return _text(request.value.upper())


async def unary_stream(request: Text, context: Context) -> AsyncIterator[Text]:
    CALLS.append("unary_stream")
    for part in request.value.split(","):
        if part == "fail":
            raise StateErrors.STORE_NOT_FOUND(name="nope")
        if part == "crash":
            raise RuntimeError("secret internals")
        yield _text(part)


async def unary_stream_writer(request: Text, context: Context) -> None:
    """The other unary-stream shape: a coroutine writing through the context."""
    CALLS.append("unary_stream_writer")
    for part in request.value.split(","):
        await context.write(_text(part))


async def stream_unary(requests: AsyncIterator[Text], context: Context) -> Text:
    CALLS.append("stream_unary")
    parts = [r.value async for r in requests]
    if "fail" in parts:
        raise StateErrors.STORE_NOT_FOUND(name="nope")
    if "crash" in parts:
        raise RuntimeError("secret internals")
    return _text(",".join(parts))


async def stream_stream(requests: AsyncIterator[Text], context: Context) -> AsyncIterator[Text]:
    CALLS.append("stream_stream")
    async for r in requests:
        if r.value == "fail":
            raise StateErrors.STORE_NOT_FOUND(name="nope")
        if r.value == "crash":
            raise RuntimeError("secret internals")
        yield _text(r.value.upper())


def unimplemented(request: Text, context: grpc.ServicerContext) -> Text:
    """What grpc's generated servicer base class does for a method nobody overrides."""
    context.set_code(grpc.StatusCode.UNIMPLEMENTED)
    raise NotImplementedError("Method not implemented!")


_KW: dict[str, Any] = {
    "request_deserializer": Text.FromString,
    "response_serializer": Text.SerializeToString,
}
HANDLERS = {
    "UnaryUnary": grpc.unary_unary_rpc_method_handler(unary_unary, **_KW),
    "UnaryStream": grpc.unary_stream_rpc_method_handler(unary_stream, **_KW),
    "UnaryStreamWriter": grpc.unary_stream_rpc_method_handler(unary_stream_writer, **_KW),
    "StreamUnary": grpc.stream_unary_rpc_method_handler(stream_unary, **_KW),
    "StreamStream": grpc.stream_stream_rpc_method_handler(stream_stream, **_KW),
    "Unimplemented": grpc.unary_unary_rpc_method_handler(unimplemented, **_KW),
}
KINDS = ["UnaryUnary", "UnaryStream", "UnaryStreamWriter", "StreamUnary", "StreamStream"]


class Server:
    def __init__(self, token: str | None) -> None:
        self.server = grpc.aio.server(interceptors=[ApiInterceptor(api_token=token)])
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(SERVICE, HANDLERS)]
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        # Any: the stubs require serializers, these calls send raw bytes
        self.channel: Any = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")

    async def call(
        self, method: str, value: str, metadata: tuple[tuple[str, str], ...] = ()
    ) -> list[str]:
        """Calls ``method`` the way its kind needs (a stream request sends the comma-separated
        parts as separate messages); returns the response values."""
        path = f"/{SERVICE}/{method}"
        ser, de = Text.SerializeToString, Text.FromString
        parts = [_text(p) for p in value.split(",")]
        if method in ("UnaryUnary", "Unimplemented"):
            one = await self.channel.unary_unary(path, ser, de)(_text(value), metadata=metadata)
            return [one.value]
        if method.startswith("UnaryStream"):
            call = self.channel.unary_stream(path, ser, de)(_text(value), metadata=metadata)
            return [r.value async for r in call]
        if method == "StreamUnary":
            single = await self.channel.stream_unary(path, ser, de)(iter(parts), metadata=metadata)
            return [single.value]
        many = self.channel.stream_stream(path, ser, de)(iter(parts), metadata=metadata)
        return [r.value async for r in many]

    async def refused(
        self, method: str, metadata: tuple[tuple[str, str], ...]
    ) -> tuple[grpc.StatusCode, str, Any]:
        """Opens a call and waits for its status without sending a request message on a
        request stream (so no client write can race the server's refusal)."""
        path = f"/{SERVICE}/{method}"
        call: Any
        if method == "UnaryUnary":
            call = self.channel.unary_unary(path)(b"", metadata=metadata)
        elif method.startswith("UnaryStream"):
            call = self.channel.unary_stream(path)(b"", metadata=metadata)
        elif method == "StreamUnary":
            call = self.channel.stream_unary(path)(metadata=metadata)
        else:
            call = self.channel.stream_stream(path)(metadata=metadata)
        try:
            async with asyncio.timeout(10):  # a handler let through would wait for input
                return await call.code(), await call.details(), await call.trailing_metadata()
        except TimeoutError:
            call.cancel()
            raise AssertionError(f"{method} was not refused: the handler is waiting") from None

    async def raw(self, method: str, body: bytes, token: bytes | None = TOKEN.encode()) -> Any:
        """Sends ``body`` as the request message bytes, unencoded, over a grpcio channel."""
        path = f"/{SERVICE}/{method}"
        md = () if token is None else (("dapr-api-token", token.decode()),)
        if method == "UnaryUnary":
            return await self.channel.unary_unary(path)(body, metadata=md)
        if method.startswith("UnaryStream"):
            return [r async for r in self.channel.unary_stream(path)(body, metadata=md)]
        if method == "StreamUnary":
            return await self.channel.stream_unary(path)(iter([body]), metadata=md)
        return [r async for r in self.channel.stream_stream(path)(iter([body]), metadata=md)]


@pytest_asyncio.fixture
async def secured() -> AsyncIterator[Server]:
    server = Server(TOKEN)
    await server.server.start()
    CALLS.clear()
    yield server
    await server.channel.close(None)
    await server.server.stop(None)


@pytest_asyncio.fixture
async def open_server() -> AsyncIterator[Server]:
    server = Server(None)
    await server.server.start()
    CALLS.clear()
    yield server
    await server.channel.close(None)
    await server.server.stop(None)


@pytest.fixture
def errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def details(err: grpc.aio.AioRpcError | Any) -> tuple[error_details_pb2.ErrorInfo, int]:
    """The ErrorInfo of ``grpc-status-details-bin`` (of an error or trailers), and how many
    details there are."""
    trailers: Any = err.trailing_metadata() if isinstance(err, grpc.aio.AioRpcError) else err
    (raw,) = [v for k, v in trailers or () if k == "grpc-status-details-bin"]
    assert isinstance(raw, bytes)
    status = status_pb2.Status.FromString(raw)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info, len(status.details)


# ---- the API token -------------------------------------------------------------------------


@pytest.mark.parametrize("method", KINDS)
@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x"], ids=["missing", "wrong", "long"])
async def test_every_handler_kind_requires_the_token(
    secured: Server, method: str, token: str | None
) -> None:
    md = () if token is None else (("dapr-api-token", token),)
    code, message, trailers = await secured.refused(method, md)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    info, _ = details(trailers)
    assert info.metadata["errorCode"] == "ERR_UNAUTHENTICATED"
    expected = (
        "missing api token in request metadata"
        if token is None
        else "authentication error: api token mismatch"
    )
    assert message == expected
    assert CALLS == []  # the handler never ran


@pytest.mark.parametrize("method", KINDS)
async def test_every_handler_kind_runs_with_the_token(secured: Server, method: str) -> None:
    got = await secured.call(method, "a,b", (("dapr-api-token", TOKEN),))
    assert (
        got
        == {
            "UnaryUnary": ["A,B"],
            "UnaryStream": ["a", "b"],
            "UnaryStreamWriter": ["a", "b"],
            "StreamUnary": ["a,b"],
            "StreamStream": ["A", "B"],
        }[method]
    )


@pytest.mark.parametrize(
    "value",
    [b"\xe9t\xe9", b"\xff\xfe", "s3cr3té".encode(), b"s3cr3t\x80", "s3cr3t".encode("utf-16")],
    ids=["latin1", "invalid-utf8", "utf8-suffix", "high-byte", "utf16"],
)
async def test_non_ascii_token_metadata_is_unauthenticated(
    secured: Server, value: bytes, errors_logged: pytest.LogCaptureFixture
) -> None:
    """grpcio's client refuses such values, so they go over raw HTTP/2."""
    reply = await asyncio.to_thread(
        raw_grpc_call,
        secured.port,
        f"/{SERVICE}/StreamStream",
        [_text("a").SerializeToString()],
        [(b"dapr-api-token", value)],
    )
    assert reply.status == grpc.StatusCode.UNAUTHENTICATED.value[0], reply.headers
    assert CALLS == []
    assert not [r for r in errors_logged.records if r.levelno >= logging.ERROR]


# ---- undecodable requests ------------------------------------------------------------------

UNDECODABLE = {
    "bad-utf8-string": b"\x0a\x02\xff\xfe",  # field 1 (string) holding invalid UTF-8
    "truncated": b"\x0a\x05ab",  # length says 5, 2 bytes follow
    "bad-wire-type": b"\x0f\x01",  # wire type 7 does not exist
    "garbage": b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
}


@pytest.mark.parametrize("method", KINDS)
@pytest.mark.parametrize("body", list(UNDECODABLE.values()), ids=list(UNDECODABLE))
async def test_undecodable_request_is_invalid_argument(
    secured: Server, method: str, body: bytes, errors_logged: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await secured.raw(method, body)
    err = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    info, _ = details(err)
    assert info.metadata["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert err.details() == f"failed to decode the /{SERVICE}/{method} request message"
    assert CALLS in ([], [_snake(method)])  # a stream handler may start before the bad message
    assert not [r for r in errors_logged.records if r.levelno >= logging.ERROR]


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


async def test_undecodable_request_is_checked_after_the_token(secured: Server) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await secured.raw("UnaryUnary", UNDECODABLE["garbage"], token=None)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


# ---- error mapping -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["UnaryUnary", "UnaryStream", "StreamUnary", "StreamStream"])
async def test_api_errors_map_to_their_status_in_every_kind(
    open_server: Server, method: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await open_server.call(method, "ok,fail")
    err = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "state store nope is not found"
    info, _ = details(err)
    assert (info.reason, info.domain) == ("DAPR_STATE_NOT_FOUND", "dapr.io")
    assert info.metadata["errorCode"] == "ERR_STATE_STORE_NOT_FOUND"


@pytest.mark.parametrize("method", ["UnaryUnary", "UnaryStream", "StreamUnary", "StreamStream"])
async def test_crashes_are_internal_without_internals(
    open_server: Server, method: str, errors_logged: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await open_server.call(method, "ok,crash")
    err = caught.value
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.details() == "internal error"
    info, _ = details(err)
    assert info.metadata["errorCode"] == "ERR_INTERNAL"
    assert any("secret internals" in r.getMessage() or r.exc_info for r in errors_logged.records)


async def test_unimplemented_method_is_unimplemented(open_server: Server) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await open_server.call("Unimplemented", "x")
    err = caught.value
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    info, _ = details(err)
    assert info.metadata["errorCode"] == "ERR_API_UNIMPLEMENTED"


async def test_unknown_method_stays_unimplemented(secured: Server) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await secured.channel.unary_unary(f"/{SERVICE}/Nope")(b"", metadata=())
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
