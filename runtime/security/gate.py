"""The callee side of a sidecar-to-sidecar call: who is calling, and may it?

``Gate.admit`` runs once per call before anything reaches the app. With mTLS the caller is the
SPIFFE id of its verified certificate, and the ``dapr-caller-app-id`` / ``dapr-caller-namespace``
headers the app sees are rewritten from it (whatever the caller sent under those names is
dropped); without mTLS they are the headers the calling sidecar set. Then the access control
policy decides; a refusal raises ``SecurityErrors`` (403 / PERMISSION_DENIED), is counted in
``tandem_invocation_denied_total`` and logged with both identities.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from functools import lru_cache
from typing import TYPE_CHECKING

from prometheus_client import Counter

from runtime.appchannel.base import InvokeRequest
from runtime.internal import wire
from runtime.security.acl import AccessPolicy, Caller
from runtime.security.errors import SecurityErrors
from runtime.security.spiffe import SpiffeError, SpiffeId

if TYPE_CHECKING:
    from runtime.observability.metrics import Metrics

__all__ = ["Gate"]

log = logging.getLogger("tandem.security")
_IDENTITY = frozenset({wire.CALLER_APP_ID, wire.CALLER_NAMESPACE})
_MAX_SHOWN = 200  # caller-chosen strings in logs and messages are bounded


@lru_cache(maxsize=1024)
def _identity_header(name: str) -> bool:
    return name.lower() in _IDENTITY


def _short(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


class Gate:
    def __init__(
        self,
        own: SpiffeId,
        *,
        mtls: bool,
        policy: AccessPolicy | None,
        metrics: Metrics | None = None,
    ) -> None:
        self.own = own
        self.mtls = mtls
        self.policy = policy
        # the verified caller of each live TLS connection: its certificate cannot change while
        # the connection lasts (TLS 1.3, no renegotiation), so it is parsed once per connection
        self._peers: weakref.WeakKeyDictionary[ssl.SSLObject, Caller] = weakref.WeakKeyDictionary()
        self._denied = (
            Counter(
                "tandem_invocation_denied_total",
                "Sidecar-to-sidecar calls refused, by caller app and reason "
                "(acl: access control; certificate: no usable peer identity).",
                ["app_id", "caller_app", "reason"],
                registry=metrics.registry,
            )
            if metrics is not None
            else None
        )

    def _count(self, caller: str, reason: str) -> None:
        if self._denied is not None:
            self._denied.labels(self.own.app_id, _short(caller), reason).inc()

    def _caller(self, transport: asyncio.BaseTransport | None, request: InvokeRequest) -> Caller:
        if not self.mtls:
            headers = {n.lower(): v for n, v in request.headers if n.lower() in _IDENTITY}
            return Caller(
                headers.get(wire.CALLER_APP_ID, ""),
                headers.get(wire.CALLER_NAMESPACE, "") or "default",
                self.own.trust_domain,
            )
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        if not isinstance(ssl_object, ssl.SSLObject):
            ssl_object = None
        else:
            known = self._peers.get(ssl_object)
            if known is not None:  # this connection's certificate was read before
                return known
        from runtime.security.workload import peer_spiffe_id

        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        try:
            peer = peer_spiffe_id(der, self.own.trust_domain)
        except (SpiffeError, ValueError) as exc:
            where = transport.get_extra_info("peername") if transport is not None else None
            log.warning("refused a call from %s to %s: %s", where, self.own, exc)
            self._count("", "certificate")
            raise SecurityErrors.PEER_REJECTED(reason=str(exc)) from None
        caller = Caller(peer.app_id, peer.namespace, peer.trust_domain)
        if ssl_object is not None:
            self._peers[ssl_object] = caller
        return caller

    def admit(
        self, transport: asyncio.BaseTransport | None, request: InvokeRequest
    ) -> InvokeRequest:
        """The request as the app will get it (verified identity headers); raises APIError."""
        caller = self._caller(transport, request)
        if self.policy is not None and not self.policy.allows(caller, request.verb, request.method):
            who = SpiffeId(caller.trust_domain, caller.namespace, caller.app_id)
            log.warning(
                "access denied by accessControl: caller %s -> callee %s: %s %s",
                _short(str(who)),
                self.own,
                request.verb or "(gRPC)",
                _short(request.method),
            )
            self._count(caller.app_id, "acl")
            raise SecurityErrors.ACCESS_DENIED(
                method=_short(request.method), caller=_short(caller.app_id)
            )
        if not self.mtls:
            return request
        kept = [(n, v) for n, v in request.headers if not _identity_header(n)]
        return InvokeRequest(
            method=request.method,
            verb=request.verb,
            headers=(
                *kept,
                (wire.CALLER_APP_ID, caller.app_id),
                (wire.CALLER_NAMESPACE, caller.namespace),
            ),
            query=request.query,
            body=request.body,
            content_type=request.content_type,
            data_type_url=request.data_type_url,
        )
