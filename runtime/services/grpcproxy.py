"""gRPC proxying: a call to a service the sidecar does not serve, addressed by ``dapr-app-id``.

``open(target, method, metadata, seconds_left)`` (the gRPC API's entry point) returns a ``RawCall``:

1. ``target`` is ``app-id`` or ``app-id.namespace``, as for invocation. The caller's metadata
   travels on without ``dapr-api-token``, ``dapr-app-id``, ``grpc-*`` and caller-supplied
   identity keys; the sidecars set ``dapr-caller-app-id`` (from the caller's verified
   certificate with mTLS), ``dapr-caller-namespace`` and ``dapr-callee-app-id``.
2. This sidecar's own app id calls the local app. Others are resolved, the first replica tried
   is the one the invocation balancer picks (the others follow; one that cannot be reached is
   skipped, nothing having been sent; the balancer sees the time to the response headers), and
   tunnelled to their sidecar (``runtime.internal.grpcproxy``), which applies access control
   (the method path, no verb) before the app sees anything.
3. The deadline is the caller's, shortened to the ``targets.apps.<id>`` timeout when there is
   one; it travels to the callee's sidecar, which gives it to the app's call. No retries: the
   call may be a stream, and its messages are never held.
4. Traced as invocation is (``runtime.internal.tracing``): a CLIENT span on the caller's
   sidecar, a SERVER span on the callee's, each lasting until the call's status (or its
   cancellation), its ``traceparent`` replacing the caller's in the metadata sent on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from components.nameresolution import Address, NameResolver
from runtime.appchannel.base import AppChannel, AppChannelError, AppUnavailable
from runtime.appchannel.rawgrpc import Metadata, RawCall, Status, forwarded_metadata
from runtime.errors import APIError
from runtime.internal import tracing as invoke_tracing
from runtime.internal import wire
from runtime.internal.balancer import Balancer
from runtime.internal.client import PeerCallFailed, PeerUnreachable
from runtime.internal.grpcproxy import TunnelClient
from runtime.resiliency import Resiliency
from runtime.services.invoke import Target, parse_target
from runtime.services.invoke_errors import InvokeErrors

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["GrpcProxyService"]

_IDENTITY = frozenset({wire.CALLER_APP_ID, wire.CALLER_NAMESPACE, wire.CALLEE_APP_ID})


class GrpcProxyService:
    def __init__(
        self,
        *,
        app_id: str,
        namespace: str,
        resolver: NameResolver | None,
        client: TunnelClient,
        app_channel: Callable[[], AppChannel | None],
        resiliency: Resiliency | None = None,
        balancer: Balancer | None = None,
    ) -> None:
        self.app_id = app_id
        self.namespace = namespace
        self._resolver = resolver
        self._client = client
        self._app_channel = app_channel
        self._resiliency = resiliency
        self._balancer = balancer or Balancer()

    async def open(
        self, target: str, method: str, metadata: Metadata, seconds_left: float | None
    ) -> RawCall:
        """Start the call; raises APIError (InvokeErrors) when it cannot start."""
        dest = parse_target(target, self.namespace)
        forwarded = tuple((k, v) for k, v in forwarded_metadata(metadata) if k not in _IDENTITY)
        identity = [(wire.CALLER_APP_ID, self.app_id), (wire.CALLEE_APP_ID, dest.app_id)]
        if self.namespace:
            identity.append((wire.CALLER_NAMESPACE, self.namespace))
        if dest.app_id == self.app_id and dest.namespace == self.namespace:
            return await self.open_local(method, (*forwarded, *identity), seconds_left)
        runner = self._resiliency.app(dest.app_id) if self._resiliency is not None else None
        if runner is not None and runner.timeout is not None:
            policy = runner.timeout
            seconds_left = policy if seconds_left is None else min(seconds_left, policy)
        span, forwarded = invoke_tracing.start_client(dest.app_id, method.lstrip("/"), forwarded)
        if span is None:
            return await self._remote(dest, method, forwarded, identity, seconds_left)
        try:
            call = await self._remote(dest, method, forwarded, identity, seconds_left)
        except BaseException:
            invoke_tracing.end(span, None)
            raise
        return _Traced(call, span)

    async def _remote(
        self,
        dest: Target,
        method: str,
        metadata: Metadata,
        identity: list[tuple[str, str]],
        seconds_left: float | None,
    ) -> RawCall:
        addresses: list[Address] = (
            await self._resolver.resolve(dest.app_id, dest.namespace) if self._resolver else []
        )
        if not addresses:
            raise InvokeErrors.APP_NOT_FOUND(app_id=dest.shown)
        first = self._balancer.pick(dest.app_id, addresses)
        ordered = [first, *(a for a in addresses if a != first)]
        tunnel = self._client.open(ordered, method, metadata, identity, seconds_left)
        return _Remote(tunnel, dest, self._balancer, first)

    async def open_local(
        self, method: str, metadata: Metadata, seconds_left: float | None
    ) -> RawCall:
        """The local app's call (a peer's proxied call, or our own app id); raises APIError."""
        channel = self._app_channel()
        if channel is None:
            raise InvokeErrors.NO_APP_CHANNEL(app_id=self.app_id)
        from runtime.appchannel.grpc import GrpcAppChannel

        if not isinstance(channel, GrpcAppChannel):
            raise InvokeErrors.NOT_GRPC_APP(app_id=self.app_id)
        span, metadata = invoke_tracing.start_server(self.app_id, method.lstrip("/"), metadata)
        try:
            call: RawCall = await channel.open_raw(method, metadata, seconds_left)
        except BaseException as exc:
            if span is not None:
                invoke_tracing.end(span, None)
            if isinstance(exc, AppUnavailable):
                raise InvokeErrors.APP_UNHEALTHY(app_id=self.app_id) from exc
            if isinstance(exc, AppChannelError):
                raise InvokeErrors.CALL_FAILED(app_id=self.app_id, detail=str(exc)) from exc
            raise
        return call if span is None else _Traced(call, span)


class _Traced:
    """A call whose span ends with it: at its status, when cancelled, or when it broke."""

    def __init__(self, call: RawCall, span: Span) -> None:
        self._call = call
        self._span: Span | None = span

    def _end(self, code: str | None) -> None:
        if self._span is not None:
            invoke_tracing.end(self._span, code)
            self._span = None

    async def write(self, message: bytes) -> None:
        await self._call.write(message)

    async def done_writing(self) -> None:
        await self._call.done_writing()

    async def initial_metadata(self) -> Metadata:
        try:
            return await self._call.initial_metadata()
        except asyncio.CancelledError:
            raise  # the caller cancels the call next
        except BaseException:
            self._end(None)
            raise

    async def read(self) -> bytes | None:
        try:
            return await self._call.read()
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._end(None)
            raise

    async def status(self) -> Status:
        try:
            status = await self._call.status()
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._end(None)
            raise
        self._end(status[0].name)
        return status

    def cancel(self) -> None:
        self._call.cancel()
        self._end("CANCELLED")


class _Remote:
    """A tunnelled call whose transport failures are invocation errors naming the app.

    The balancer's pick is reported exactly once: at the response headers (or the first
    failure), else when the call ends or is cancelled."""

    def __init__(self, tunnel: RawCall, dest: Target, balancer: Balancer, picked: Address) -> None:
        self._tunnel = tunnel
        self._dest = dest
        self._balancer: Balancer | None = balancer
        self._picked = picked
        self._started = time.monotonic()

    def _observe(self, *, ok: bool) -> None:
        if self._balancer is not None:
            self._balancer.observe(self._picked, time.monotonic() - self._started, ok=ok)
            self._balancer = None

    def _error(self, exc: ConnectionError) -> APIError:
        self._observe(ok=False)
        if isinstance(exc, PeerUnreachable):
            return InvokeErrors.UNREACHABLE(app_id=self._dest.shown, detail=str(exc))
        return InvokeErrors.CALL_FAILED(app_id=self._dest.shown, detail=str(exc))

    async def write(self, message: bytes) -> None:
        await self._tunnel.write(message)

    async def done_writing(self) -> None:
        await self._tunnel.done_writing()

    async def initial_metadata(self) -> Metadata:
        try:
            headers = await self._tunnel.initial_metadata()
        except (PeerUnreachable, PeerCallFailed) as exc:
            raise self._error(exc) from exc
        self._observe(ok=True)
        return headers

    async def read(self) -> bytes | None:
        try:
            return await self._tunnel.read()
        except (PeerUnreachable, PeerCallFailed) as exc:
            raise self._error(exc) from exc

    async def status(self) -> Status:
        try:
            status = await self._tunnel.status()
        except (PeerUnreachable, PeerCallFailed) as exc:
            raise self._error(exc) from exc
        self._observe(ok=True)
        return status

    def cancel(self) -> None:
        self._observe(ok=True)  # the caller gave up: not the replica's failure
        self._tunnel.cancel()
