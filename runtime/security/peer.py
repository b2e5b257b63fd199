"""The caller side of mTLS: a connector that checks who answered before any request is sent.

The handshake has already verified the peer's chain against the trust anchors; this adds the
SPIFFE check: the peer must be in our trust domain and be the app id the call is for
(``dapr-callee-app-id``). A refusal closes the connection and surfaces as a connection error
naming the reason, so nothing was sent.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

from runtime.internal import wire
from runtime.security.spiffe import SpiffeError
from runtime.security.workload import Workload, peer_spiffe_id

__all__ = ["VerifyingConnector"]

log = logging.getLogger("tandem.security")


class VerifyingConnector(aiohttp.TCPConnector):
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
