"""The API interceptor: api-token check, request decoding and error mapping for every RPC.

It wraps all four handler kinds (unary-unary, unary-stream, stream-unary, stream-stream):

- the ``dapr-api-token`` metadata is checked before the handler runs (health and reflection
  are exempt);
- the request deserializer is wrapped, so bytes that do not decode (corrupt wire format, bad
  UTF-8 in a string field) answer INVALID_ARGUMENT ``ERR_MALFORMED_REQUEST`` instead of grpc's
  UNKNOWN with the Python exception text;
- an ``APIError`` becomes its status with details; any other exception is logged and becomes
  INTERNAL, so no request can take the server down.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc
from grpc import aio

from runtime.api.grpc.errors import to_grpc_status
from runtime.api.token import HEADER, token_error
from runtime.errors import APIError, Errors

__all__ = ["ApiInterceptor"]

log = logging.getLogger("tandem.api.grpc")

Context = aio.ServicerContext[Any, Any]
Behavior = Callable[[Any, Context], Any]
_EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class _Undecodable:
    """What the wrapped deserializer yields for bytes it cannot decode."""

    __slots__ = ()


_UNDECODABLE = _Undecodable()


def _safe_deserializer(
    deserialize: Callable[[bytes], Any] | None,
) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def safe(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # the caller's bytes, not a server fault
            return _UNDECODABLE

    return safe


class _Call:
    """What every wrapped behavior of one method shares."""

    def __init__(self, method: str, token: bytes | None) -> None:
        self.method = method
        self.token = token

    def admit(self, context: Context) -> None:
        """Raises the 401 error unless the call carries the token (when one is required)."""
        if self.token is None:
            return
        given: str | bytes | None = None
        for key, value in context.invocation_metadata() or ():
            if key == HEADER:
                given = value
        err = token_error(given, self.token)
        if err is not None:
            raise err

    def decoded(self, request: Any) -> Any:
        if request is _UNDECODABLE:
            raise Errors.GRPC_REQUEST_UNDECODABLE(method=self.method)
        return request

    async def requests(self, iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in iterator:
            yield self.decoded(request)

    async def fail(self, context: Context, exc: Exception) -> NoReturn:
        if isinstance(exc, NotImplementedError):  # grpc's generated servicer base methods
            exc = Errors.RPC_UNIMPLEMENTED(method=self.method)
        if isinstance(exc, APIError):
            await context.abort_with_status(to_grpc_status(exc))  # type: ignore[attr-defined]
        log.error("unexpected error serving %s", self.method, exc_info=exc)
        await context.abort_with_status(to_grpc_status(Errors.INTERNAL()))  # type: ignore[attr-defined]
        raise AssertionError("unreachable: abort raises")  # pragma: no cover


async def _invoke(inner: Behavior, request: Any, context: Context) -> Any:
    """Calls a coroutine behavior, or a plain function (such as an unimplemented method)."""
    result = inner(request, context)
    return await result if inspect.isawaitable(result) else result


def _wrap(call: _Call, inner: Behavior, incoming: Callable[[Any], Any]) -> Behavior:
    """Wraps a behavior of either shape (coroutine, async generator): the token is checked
    first, ``incoming`` decodes the request or request stream, errors become a status."""
    if inspect.isasyncgenfunction(inner):

        async def generator(request: Any, context: Context) -> AsyncIterator[Any]:
            try:
                call.admit(context)
                async for response in inner(incoming(request), context):
                    yield response
            except aio.AbortError:
                raise
            except Exception as exc:
                await call.fail(context, exc)

        return generator

    async def coroutine(request: Any, context: Context) -> Any:
        try:
            call.admit(context)
            return await _invoke(inner, incoming(request), context)
        except aio.AbortError:
            raise
        except Exception as exc:
            await call.fail(context, exc)

    return coroutine


def _unary_in(call: _Call, inner: Behavior) -> Behavior:
    """Wraps a unary-request behavior (unary-unary, unary-stream)."""
    return _wrap(call, inner, call.decoded)


def _stream_in(call: _Call, inner: Behavior) -> Behavior:
    """Wraps a stream-request behavior (stream-unary, stream-stream)."""
    return _wrap(call, inner, call.requests)


_KINDS: tuple[tuple[str, Callable[[_Call, Behavior], Behavior], Callable[..., Any]], ...] = (
    ("unary_unary", _unary_in, grpc.unary_unary_rpc_method_handler),
    ("unary_stream", _unary_in, grpc.unary_stream_rpc_method_handler),
    ("stream_unary", _stream_in, grpc.stream_unary_rpc_method_handler),
    ("stream_stream", _stream_in, grpc.stream_stream_rpc_method_handler),
)


def _not_metadata_decoding(record: logging.LogRecord) -> bool:
    """grpcio logs a traceback at ERROR for every metadata value that is not UTF-8 (it then
    decodes it as Latin-1 and goes on). That is the caller's input, answered like any other
    (a non-UTF-8 token gets UNAUTHENTICATED): drop the record."""
    return record.msg != "Invalid encoding on %s"


class ApiInterceptor(aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, *, api_token: str | None) -> None:
        self._token = api_token.encode() if api_token else None
        logging.getLogger("grpc._cython.cygrpc").addFilter(_not_metadata_decoding)
        # method -> (handler from the continuation, wrapped handler): wrapped once per method,
        # not per call (the wrapping holds nothing of a call's own)
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method: str = details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(method, handler)
        # bounded: proxied calls (``proxy.py``) bring method names of the caller's choosing
        if len(method) <= 256 and len(self._wrapped) < 1024:
            self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: Any) -> Any:
        exempt = method.startswith(_EXEMPT_PREFIXES)
        call = _Call(method, None if exempt else self._token)
        for attr, wrap, make in _KINDS:
            inner = getattr(handler, attr, None)
            if inner is not None:
                return make(
                    wrap(call, inner),
                    request_deserializer=_safe_deserializer(handler.request_deserializer),
                    response_serializer=handler.response_serializer,
                )
        return handler
