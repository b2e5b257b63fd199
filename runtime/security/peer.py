"""The caller side of mTLS: who answered, checked before any request is sent on a connection.

The handshake has already verified the peer's chain against the trust anchors; this adds the
SPIFFE check: the peer must be in our trust domain (``identify``, once per connection) and be
the app id the call is for (``admit``, per call: a pooled connection serves only that app id).
A refusal closes the connection and surfaces as a connection error naming the reason, so
nothing was sent.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from runtime.appchannel._h1 import ConnectFailed
from runtime.security.spiffe import SpiffeError, SpiffeId
from runtime.security.workload import Workload, peer_spiffe_id

__all__ = ["PeerCheck"]

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
