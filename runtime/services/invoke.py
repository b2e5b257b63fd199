"""Service invocation: call app ``<app-id>`` through its sidecar, or the local app.

``invoke(target, request)`` (the APIs' entry point):

1. ``target`` is ``app-id`` or ``app-id.namespace`` (default: this sidecar's namespace). The
   method path is normalised: ``.``/``..`` segments (also percent-encoded) are resolved and can
   never climb above the app's root.
2. Headers: the caller's, minus hop-by-hop ones, ``dapr-app-id`` and any caller-supplied
   identity header; the sidecars set ``dapr-caller-app-id``, ``dapr-caller-namespace`` and
   ``dapr-callee-app-id`` for the app. W3C trace context is propagated: a CLIENT span here, a
   SERVER span on the callee's side (``call_local``), when tracing is on.
3. This sidecar's own app id goes straight to the local app (``call_local``). Others are
   resolved by the name resolver and sent over the internal channel to the replica the
   latency-aware balancer picks (``runtime.internal.balancer``: peak-EWMA, two random choices,
   replicas that cannot be reached ejected for a while).
4. ``targets.apps.<id>`` resiliency wraps every remote call: the timeout bounds the wait for the
   response headers, the breaker counts transport failures and 5xx/408/429 answers, and retries
   apply only to a request that can be replayed (a body held in memory) whose verb is
   idempotent, or when the policy's ``matching`` lists status codes explicitly. An answer that
   exhausted its retries is returned as it is (status, headers, body).
5. A peer that cannot be reached (nothing sent) is retried by Dapr's built-in
   ``DaprBuiltInServiceRetries`` (a retry policy of that name overrides it), re-resolving each
   time: other replicas are tried first, a vanished app id ends the retries with 404. A call
   whose connection broke midway is sent once more (to another replica if there is one), only
   when it is replayable (idempotent verb, body in memory).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from components.nameresolution import Address, NameResolver
from runtime.appchannel._headers import forwarded_name
from runtime.appchannel.base import (
    AppChannel,
    AppChannelError,
    AppUnavailable,
    BodyTooLarge,
    Headers,
    InvalidInvokeRequest,
    InvokeRequest,
    InvokeResponse,
)
from runtime.internal import tracing as invoke_tracing
from runtime.internal import wire
from runtime.internal.balancer import Balancer
from runtime.internal.client import InternalClient, PeerCallFailed, PeerUnreachable
from runtime.observability.tracing import tracing_enabled
from runtime.resiliency import BreakerOpen, Resiliency, Runner
from runtime.resiliency.retry import RetryPolicy
from runtime.services.invoke_errors import InvokeErrors

__all__ = ["APP_ID_HEADER", "InvokeService", "Target", "clean_method", "parse_target"]

log = logging.getLogger("tandem.invoke")

APP_ID_HEADER = "dapr-app-id"
BUILTIN_RETRIES = "DaprBuiltInServiceRetries"
_SHOWN = 128  # characters of an app id quoted in an error message
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# never forwarded: routing and credentials for this sidecar, our wire headers, and Expect (the
# sidecar already answered it; each hop negotiates its own 100-continue)
_DROPPED = wire.IDENTITY_HEADERS | {
    APP_ID_HEADER,
    "dapr-api-token",
    "expect",
    wire.GRPC_STATUS,
    wire.ERROR,
}


@dataclass(frozen=True, slots=True)
class Target:
    app_id: str
    namespace: str

    @property
    def shown(self) -> str:
        """The app id for messages: bounded (a caller's id can be any length)."""
        name = self.app_id if len(self.app_id) <= _SHOWN else self.app_id[:_SHOWN] + "..."
        return f"{name}.{self.namespace}" if self.namespace else name


def parse_target(text: str, default_namespace: str) -> Target:
    """``app-id`` or ``app-id.namespace``; raises APIError when empty."""
    app_id, dot, namespace = text.strip().rpartition(".")
    if not dot:
        app_id, namespace = namespace, default_namespace
    if not app_id:
        raise InvokeErrors.APP_ID_MISSING()
    return Target(app_id, namespace)


def clean_method(raw: str) -> str:
    """The method path with ``.``/``..`` segments resolved (``%2e`` counts as ``.``), never
    above the root, no leading ``/``; percent-encoding otherwise kept as sent."""
    if "." not in raw and "//" not in raw and ("%" not in raw or "%2e" not in raw.lower()):
        return raw[1:] if raw.startswith("/") else raw  # nothing to resolve (the usual case)
    out: list[str] = []
    segments = raw.split("/")
    for i, segment in enumerate(segments):
        dots = segment.lower().replace("%2e", ".")
        if dots == ".":
            pass
        elif dots == "..":
            if out:
                out.pop()
        elif segment or i == len(segments) - 1:
            out.append(segment)
    return "/".join(out)


@lru_cache(maxsize=1024)
def _sent(name: str) -> bool:
    """A caller's header that is forwarded to the callee (decided once per name)."""
    return name.lower() not in _DROPPED and forwarded_name(name)


def _forwarded(headers: Headers) -> Headers:
    """The caller's headers minus hop-by-hop, invalid, routing and identity ones."""
    sent = _sent
    return tuple([(n, v) for n, v in headers if sent(n) and "\r" not in v and "\n" not in v])


def _replayable(request: InvokeRequest) -> bool:
    """Safe to send twice: an idempotent verb and a body held in memory."""
    return isinstance(request.body, bytes) and (request.verb or "").upper() in _IDEMPOTENT


class _StatusFailure(Exception):
    """An answer the resiliency policies count as a failure; it carries the answer itself."""

    def __init__(self, response: InvokeResponse) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response
        self.http_status = response.status


class InvokeService:
    def __init__(
        self,
        *,
        app_id: str,
        namespace: str,
        resolver: NameResolver | None,
        client: InternalClient,
        app_channel: Callable[[], AppChannel | None],
        resiliency: Resiliency | None = None,
        balancer: Balancer | None = None,
        max_message_body: int = 4 << 20,
    ) -> None:
        self.app_id = app_id
        self.namespace = namespace
        self._resolver = resolver
        self._client = client
        self._app_channel = app_channel
        self._resiliency = resiliency
        self.max_message_body = max_message_body
        self._runners: dict[tuple[str, bool], Runner | None] = {}
        self._balancer = balancer or Balancer()

    @property
    def balancer(self) -> Balancer:
        """The replica balancer every remote call goes through (share it: gRPC proxying)."""
        return self._balancer

    # ---- caller side ------------------------------------------------------------------------

    async def invoke(self, target: str, request: InvokeRequest) -> InvokeResponse:
        """Call ``request.method`` of app ``target``; raises APIError (InvokeErrors)."""
        dest = parse_target(target, self.namespace)
        headers = _forwarded(request.headers)
        method = clean_method(request.method)
        identity = [(wire.CALLER_APP_ID, self.app_id), (wire.CALLEE_APP_ID, dest.app_id)]
        if self.namespace:
            identity.append((wire.CALLER_NAMESPACE, self.namespace))
        local = dest.app_id == self.app_id and dest.namespace == self.namespace
        request = InvokeRequest(
            method=method,
            verb=request.verb,
            headers=(*headers, *identity) if local else headers,
            query=request.query,
            body=request.body,
            content_type=request.content_type,
            data_type_url=request.data_type_url,
        )
        if local:
            return await self.call_local(request)
        if not tracing_enabled():  # no span to make: skip the context manager
            return await self._resilient(dest, request, identity)
        with invoke_tracing.client_span(dest.app_id, request.method) as span_headers:
            if span_headers:
                request = replace(
                    request,
                    headers=(*invoke_tracing.without_trace(request.headers), *span_headers),
                )
            return await self._resilient(dest, request, identity)

    async def read_whole(self, target: str, response: InvokeResponse) -> bytes:
        """The body of an answer that must travel as one message (gRPC ``InvokeService``),
        bounded by ``max_message_body`` (``--max-body-size``); raises RESPONSE_TOO_LARGE."""
        try:
            return await response.read(self.max_message_body)
        except BodyTooLarge as exc:
            shown = parse_target(target, self.namespace).shown
            raise InvokeErrors.RESPONSE_TOO_LARGE(app_id=shown, limit=exc.limit) from None

    def _runner(self, app_id: str, retries: bool) -> Runner | None:
        key = (app_id, retries)
        if key not in self._runners:
            full = self._resiliency.app(app_id) if self._resiliency is not None else None
            runner = full
            if full is not None and full.retry is not None and not retries:
                runner = Runner(
                    full.target,
                    timeout=full.timeout,
                    timeout_name=full.timeout_name,
                    breaker=full.breaker,
                    breaker_name=full.breaker_name,
                    events=full.events,
                )
            self._runners[key] = runner
        return self._runners[key]

    def _may_retry(self, app_id: str, request: InvokeRequest) -> bool:
        if not isinstance(request.body, bytes):
            return False  # a streamed body cannot be sent twice
        if _replayable(request):
            return True
        full = self._resiliency.app(app_id) if self._resiliency is not None else None
        retry = full.retry if full is not None else None
        return retry is not None and bool(retry.http_codes)

    async def _resilient(
        self, dest: Target, request: InvokeRequest, identity: list[tuple[str, str]]
    ) -> InvokeResponse:
        found = await self._resolve(dest)
        if not found:  # before any per-app state is made for the id
            raise InvokeErrors.APP_NOT_FOUND(app_id=dest.shown)
        runner = self._runner(dest.app_id, self._may_retry(dest.app_id, request))
        if runner is None:  # fast path: no policy (the addresses just resolved are used)
            return await self._remote(dest, request, identity, found)
        failed: list[InvokeResponse] = []

        async def attempt() -> InvokeResponse:
            while failed:  # an answer a retry replaces
                await failed.pop().aclose()
            response = await self._remote(dest, request, identity)
            if response.status >= 500 or response.status in (408, 429):
                failed.append(response)
                raise _StatusFailure(response)
            return response

        try:
            return await runner.run(attempt)
        except _StatusFailure as exc:
            failed.clear()
            return exc.response
        except TimeoutError as exc:
            raise InvokeErrors.TIMEOUT(app_id=dest.shown, detail=str(exc)) from exc
        except BreakerOpen as exc:
            raise InvokeErrors.BREAKER_OPEN(app_id=dest.shown, detail=str(exc)) from exc
        finally:
            for response in failed:
                await response.aclose()

    async def _remote(
        self,
        dest: Target,
        request: InvokeRequest,
        identity: list[tuple[str, str]],
        resolved: list[Address] | None = None,
    ) -> InvokeResponse:
        """Resolve (unless ``resolved`` was just done) and send; unreachable peers are retried
        (built-in policy, re-resolving)."""
        waits = None
        retries = 0
        replayed = False
        tried: set[Address] = set()
        while True:
            addresses = resolved if resolved is not None else await self._resolve(dest)
            resolved = None
            if not addresses:
                raise InvokeErrors.APP_NOT_FOUND(app_id=dest.shown)
            fresh = [a for a in addresses if a not in tried] or addresses
            address = self._balancer.pick(dest.app_id, fresh)
            try:
                return await self._send(address, request, identity)
            except PeerCallFailed as exc:
                # the connection broke mid-call (the peer died, a stale pooled connection): an
                # idempotent, replayable request is sent once more (another replica if any)
                tried.add(address)
                if replayed or not _replayable(request):
                    raise InvokeErrors.CALL_FAILED(app_id=dest.shown, detail=str(exc)) from exc
                replayed = True
                continue
            except PeerUnreachable as exc:
                tried.add(address)
                if any(a not in tried for a in addresses):
                    continue  # another replica first, at once
                policy = self._builtin()
                if policy is None or not policy.should_retry(exc, retries):
                    raise InvokeErrors.UNREACHABLE(app_id=dest.shown, detail=str(exc)) from exc
                retries += 1
                waits = waits or policy.waits()
                log.debug("sidecar of %r unreachable (%s); retry %d", dest.app_id, exc, retries)
                tried.clear()
                await asyncio.sleep(next(waits))

    async def _send(
        self, address: Address, request: InvokeRequest, identity: list[tuple[str, str]]
    ) -> InvokeResponse:
        """One call to one replica, reported to the balancer (time to the response headers;
        a connection failure ejects the replica for a while)."""
        started = time.monotonic()
        ok = True
        try:
            return await self._client.send(address, request, identity)
        except (PeerCallFailed, PeerUnreachable):
            ok = False
            raise
        finally:
            self._balancer.observe(address, time.monotonic() - started, ok=ok)

    def _builtin(self) -> RetryPolicy | None:
        if self._resiliency is None:
            return None
        return self._resiliency.builtin(BUILTIN_RETRIES).retry

    async def _resolve(self, dest: Target) -> list[Address]:
        if self._resolver is None:
            return []
        try:
            return await self._resolver.resolve(dest.app_id, dest.namespace)
        except OSError as exc:  # a registry on a server (redis) that cannot be reached
            raise InvokeErrors.UNREACHABLE(app_id=dest.shown, detail=str(exc)) from exc

    # ---- callee side ------------------------------------------------------------------------

    async def call_local(self, request: InvokeRequest) -> InvokeResponse:
        """Call the local app (a peer's call, or our own app id); raises APIError."""
        channel = self._app_channel()
        callee = self.app_id
        if channel is None:
            raise InvokeErrors.NO_APP_CHANNEL(app_id=callee)
        if not tracing_enabled():  # no span to make: skip the context manager
            return await self._call_app(channel, request)
        with invoke_tracing.server_span(callee, request.method, request.headers) as headers:
            if headers is not None:
                request = replace(request, headers=headers)
            return await self._call_app(channel, request)

    async def _call_app(self, channel: AppChannel, request: InvokeRequest) -> InvokeResponse:
        try:
            return await channel.invoke(request)
        except AppUnavailable as exc:
            raise InvokeErrors.APP_UNHEALTHY(app_id=self.app_id) from exc
        except InvalidInvokeRequest as exc:
            raise InvokeErrors.INVALID_REQUEST(detail=str(exc)) from exc
        except AppChannelError as exc:
            raise InvokeErrors.CALL_FAILED(app_id=self.app_id, detail=str(exc)) from exc
