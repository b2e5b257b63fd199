"""The gRPC API's edge: one interceptor folding telemetry, the api-token check, request decoding
and error mapping into one wrapper per method (the gRPC twin of the HTTP ``edge_middleware``).

Per call, from the outside in, for all four handler kinds (unary-unary, unary-stream,
stream-unary, stream-stream):

- telemetry (``GrpcTelemetry``, when given): metrics, the API log line and, for unary and
  proxied calls, the SERVER span; it records the status the client gets, errors included;
- the ``dapr-api-token`` metadata is checked before the handler runs (health and reflection
  are exempt);
- the request deserializer is wrapped, so bytes that do not decode (corrupt wire format, bad
  UTF-8 in a string field) answer INVALID_ARGUMENT ``ERR_MALFORMED_REQUEST`` instead of grpc's
  UNKNOWN with the Python exception text;
- an ``APIError`` becomes its status with details; any other exception is logged and becomes
  INTERNAL, so no request can take the server down.

The wrapper of a served method is built once and cached. Proxied calls (``Proxied`` handlers,
``proxy.py``) carry paths of the caller's choosing: they are wrapped per call (cheaply: no
inspection), never cached, and labelled ``/*`` in metrics and spans; their unexpected-error log
line names the real path.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import grpc
from grpc import aio

from runtime.api.grpc.errors import to_grpc_status
from runtime.api.token import HEADER, token_error
from runtime.errors import APIError, Errors
from runtime.observability.grpc_telemetry import (
    PROXIED_GRPC_METHOD,
    UNKNOWN_GRPC_METHOD,
    GrpcCall,
    GrpcTelemetry,
    code_name,
)

__all__ = ["ApiInterceptor", "Proxied"]

log = logging.getLogger("tandem.api.grpc")

Context = aio.ServicerContext[Any, Any]
Behavior = Callable[[Any, Context], Any]
_EXEMPT_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_CACHED = 4096  # wrapped handlers kept; the API serves under a hundred methods


class Proxied:
    """The method handler of one proxied call: a stream-stream coroutine behavior over raw bytes
    (no (de)serializers), and the call's real path (``method``, for log lines only: metrics and
    spans say ``/*``). grpc reads these attributes from any handler; the interceptor tells
    proxied calls apart by this type, and answers with another ``Proxied`` (its behavior
    wrapped)."""

    __slots__ = ("method", "stream_stream")
    request_streaming = True
    response_streaming = True
    request_deserializer = None
    response_serializer = None
    unary_unary = None
    unary_stream = None
    stream_unary = None

    def __init__(
        self,
        behavior: Callable[[AsyncIterator[bytes], Context], Awaitable[None]],
        method: str = PROXIED_GRPC_METHOD,
    ) -> None:
        self.stream_stream = behavior
        self.method = method


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


class _Method:
    """What every call of one method (or of all proxied calls) shares."""

    __slots__ = ("attributes", "label", "telemetry", "token", "traced")

    def __init__(
        self,
        label: str,
        token: bytes | None,
        telemetry: GrpcTelemetry | None,
        *,
        traced: bool,
        attributes: tuple[str, str] | None,
    ) -> None:
        self.label = label
        self.token = token
        self.telemetry = telemetry
        self.traced = traced
        self.attributes = attributes

    def enter(self, context: Context) -> tuple[GrpcCall | None, APIError | None]:
        """Starts the call's telemetry and checks the token (when one is required): the call,
        and the 401 error to answer when refused (a refused call is recorded like any other)."""
        telemetry, token = self.telemetry, self.token
        if telemetry is None and token is None:
            return None, None
        metadata = context.invocation_metadata()
        call = (
            telemetry.start(self.label, metadata, traced=self.traced, attributes=self.attributes)
            if telemetry is not None
            else None
        )
        if token is None:
            return call, None
        given: str | bytes | None = None
        for key, value in metadata or ():
            if key == HEADER:
                given = value
        return call, token_error(given, token)

    def decoded(self, request: Any) -> Any:
        if request is _UNDECODABLE:
            raise Errors.GRPC_REQUEST_UNDECODABLE(method=self.label)
        return request

    async def requests(self, iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in iterator:
            yield self.decoded(request)

    def status(self, exc: Exception, call: GrpcCall | None, path: str | None = None) -> grpc.Status:
        """The status answering ``exc``; an unexpected one is logged (and put on the span),
        naming ``path`` (a proxied call's real method) or else the label."""
        if isinstance(exc, NotImplementedError):  # grpc's generated servicer base methods
            exc = Errors.RPC_UNIMPLEMENTED(method=self.label)
        if isinstance(exc, APIError):
            return to_grpc_status(exc)
        log.error("unexpected error serving %s", path or self.label, exc_info=exc)
        if call is not None:
            call.failed(exc)
        return to_grpc_status(Errors.INTERNAL())

    def finish(self, call: GrpcCall | None, code: str) -> None:
        if call is not None and self.telemetry is not None:
            self.telemetry.finish(call, code)


async def _abort(context: Context, status: grpc.Status) -> None:
    await context.abort_with_status(status)  # type: ignore[attr-defined]
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


def _wrap(m: _Method, inner: Behavior, incoming: Callable[[Any], Any]) -> Behavior:
    """Wraps a behavior of either shape (coroutine or plain function, async generator):
    telemetry and the token check first, ``incoming`` decodes the request or request stream,
    errors become a status."""
    if inspect.isasyncgenfunction(inner):
        return _generator(m, inner, incoming)
    return _coroutine(m, inner, incoming)


def _generator(m: _Method, inner: Behavior, incoming: Callable[[Any], Any]) -> Behavior:
    async def generator(request: Any, context: Context) -> AsyncIterator[Any]:
        call: GrpcCall | None = None
        code = "UNKNOWN"
        try:
            call, refused = m.enter(context)
            if refused is not None:
                raise refused
            async with aclosing(inner(incoming(request), context)) as responses:
                async for response in responses:
                    yield response
            code = code_name(context, "OK")
        except aio.AbortError:
            code = code_name(context, "UNKNOWN")
            raise
        except (asyncio.CancelledError, GeneratorExit):
            code = "CANCELLED"
            raise
        except Exception as exc:
            status = m.status(exc, call)
            code = status.code.name
            await _abort(context, status)
        finally:
            m.finish(call, code)

    return generator


def _coroutine(
    m: _Method,
    inner: Behavior,
    incoming: Callable[[Any], Any],
    *,
    path: str | None = None,
    is_coroutine: bool | None = None,
) -> Behavior:
    """``path``: the real method of a proxied call (for the error log); ``is_coroutine`` given
    when known, so no inspection is done."""
    if is_coroutine is None:
        is_coroutine = inspect.iscoroutinefunction(inner)

    async def coroutine(request: Any, context: Context) -> Any:
        call: GrpcCall | None = None
        code = "UNKNOWN"
        try:
            call, refused = m.enter(context)
            if refused is not None:
                raise refused
            result = inner(incoming(request), context)
            if is_coroutine or inspect.isawaitable(result):  # a plain function: unimplemented
                result = await result
            code = code_name(context, "OK")
            return result
        except aio.AbortError:
            code = code_name(context, "UNKNOWN")
            raise
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except Exception as exc:
            status = m.status(exc, call, path)
            code = status.code.name
            await _abort(context, status)
        finally:
            m.finish(call, code)

    return coroutine


def _as_is(requests: Any) -> Any:
    return requests


def _proxied(m: _Method, handler: Proxied) -> Proxied:
    """Wraps a proxied call's behavior (a coroutine function, by ``Proxied``'s contract: no
    inspection per call); its request stream is bytes as they are."""
    return Proxied(
        _coroutine(m, handler.stream_stream, _as_is, path=handler.method, is_coroutine=True),
        handler.method,
    )


def _unary_in(m: _Method, inner: Behavior) -> Behavior:
    """Wraps a unary-request behavior (unary-unary, unary-stream)."""
    return _wrap(m, inner, m.decoded)


def _stream_in(m: _Method, inner: Behavior) -> Behavior:
    """Wraps a stream-request behavior (stream-unary, stream-stream)."""
    return _wrap(m, inner, m.requests)


_KINDS: tuple[tuple[str, Callable[[_Method, Behavior], Behavior], Callable[..., Any]], ...] = (
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
    """The API's only interceptor (see the module docstring); ``telemetry`` None: none."""

    def __init__(self, *, api_token: str | None, telemetry: GrpcTelemetry | None = None) -> None:
        self._token = api_token.encode() if api_token else None
        self._telemetry = telemetry
        logging.getLogger("grpc._cython.cygrpc").addFilter(_not_metadata_decoding)
        # method -> (handler from the continuation, wrapped handler): built once per served
        # method (the wrapping holds nothing of a call's own); proxied calls never enter it,
        # so it holds the methods served (capped all the same)
        self._wrapped: dict[str, tuple[Any, Any]] = {}
        self._proxied = _Method(
            PROXIED_GRPC_METHOD, self._token, telemetry, traced=True, attributes=None
        )

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        if handler is None:  # grpc answers UNIMPLEMENTED; never label by an arbitrary name
            if self._telemetry is not None:
                self._telemetry.record(UNKNOWN_GRPC_METHOD, "UNIMPLEMENTED", 0.0)
            return None
        if type(handler) is Proxied:
            return _proxied(self._proxied, handler)
        method: str = details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(method, handler)
        if len(self._wrapped) < _CACHED:
            self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: Any) -> Any:
        exempt = method.startswith(_EXEMPT_PREFIXES)
        service, _, rpc_method = method.lstrip("/").rpartition("/")
        for attr, wrap, make in _KINDS:
            inner = getattr(handler, attr, None)
            if inner is not None:
                m = _Method(
                    method,
                    None if exempt else self._token,
                    self._telemetry,
                    traced=attr == "unary_unary",
                    attributes=(service, rpc_method),
                )
                return make(
                    wrap(m, inner),
                    request_deserializer=_safe_deserializer(handler.request_deserializer),
                    response_serializer=handler.response_serializer,
                )
        return handler
