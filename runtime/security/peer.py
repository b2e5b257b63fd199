"""The caller side of mTLS: who answered, checked before any request is sent on a connection.

The handshake has already verified the peer's chain against the trust anchors; this adds the
SPIFFE check: the peer must be in our trust domain (``identify``, once per connection) and be
the app id the call is for (``admit``, per call: a pooled connection serves only that app id).
A refusal closes the connection and surfaces as a connection error naming the reason, so
nothing was sent.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

from runtime.appchannel._h1 import ConnectFailed
from runtime.internal import wire
from runtime.security.spiffe import SpiffeError, SpiffeId
from runtime.security.workload import Workload, peer_spiffe_id

__all__ = ["PeerCheck", "VerifyingConnector"]

log = logging.getLogger("tandem.security")


class PeerCheck:
    def __init__(self, workload: Workload, where: str) -> None:
        self._trust_domain = workload.trust_domain
        self._where = where

    def _refuse(self, reason: str) -> ConnectFailed:
        log.warning("refused the sidecar at %s: %s", self._where, reason)
        return ConnectFailed(f"peer certificate refused: {reason}")

    def identify(self, transport: asyncio.Transport) -> SpiffeId:
        """The verified peer's SPIFFE id; ConnectFailed when it has none or a foreign one."""
        ssl_object = transport.get_extra_info("ssl_object")
        der = (
            ssl_object.getpeercert(binary_form=True)
            if isinstance(ssl_object, ssl.SSLObject)
            else None
        )
        try:
            return peer_spiffe_id(der, self._trust_domain)
        except (SpiffeError, ValueError) as exc:
            raise self._refuse(str(exc)) from None

    def admit(self, peer: SpiffeId, app_id: str) -> str | None:
        """None when ``peer`` is app ``app_id``; else the reason (logged)."""
        if peer.app_id == app_id:
            return None
        return str(self._refuse(f"the peer is {peer}, not app id {app_id!r}"))


class VerifyingConnector(aiohttp.TCPConnector):
    """The same check for aiohttp clients (gRPC proxying's tunnel): the expected app id is the
    request's ``dapr-callee-app-id``."""

    def __init__(self, workload: Workload, **kwargs: Any) -> None:
        super().__init__(ssl=workload.client_context, **kwargs)
        self._trust_domain = workload.trust_domain

    async def _wrap_create_connection(
        self, *args: Any, req: aiohttp.ClientRequest, **kwargs: Any
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        transport, proto = await super()._wrap_create_connection(*args, req=req, **kwargs)
        ssl_object = transport.get_extra_info("ssl_object")
        der = (
            ssl_object.getpeercert(binary_form=True)
            if isinstance(ssl_object, ssl.SSLObject)
            else None
        )
        expected = req.headers.get(wire.CALLEE_APP_ID)
        try:
            peer = peer_spiffe_id(der, self._trust_domain)
            if expected is not None and peer.app_id != expected:
                raise SpiffeError(f"the peer is {peer}, not app id {expected!r}")
        except (SpiffeError, ValueError) as exc:
            transport.close()
            log.warning("refused the sidecar at %s:%s: %s", req.host, req.port, exc)
            raise aiohttp.ClientConnectorError(
                req.connection_key, OSError(errno.EACCES, f"peer certificate refused: {exc}")
            ) from None
        return transport, proto
