"""The one place that creates the TLS contexts of the sidecar-to-sidecar channel.

``configure`` is called once at start-up with this sidecar's ``Workload`` (mTLS on, the default)
or None (``--enable-mtls=false``: cleartext). The client and the server take whatever these
functions give, and ``scheme()`` follows. The contexts are the workload's own: a certificate
rotation reloads them in place, so connections stay up and new handshakes use the new one.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from runtime.security.workload import Workload

__all__ = ["client_context", "configure", "connector", "scheme", "server_context", "workload"]

_workload: Workload | None = None


def configure(new: Workload | None) -> None:
    global _workload  # noqa: PLW0603 (one per process, set before the channel starts)
    _workload = new


def workload() -> Workload | None:
    return _workload


def server_context() -> ssl.SSLContext | None:
    """The context the internal server listens with (None: cleartext)."""
    return _workload.server_context if _workload is not None else None


def client_context() -> ssl.SSLContext | None:
    """The context used to connect to peer sidecars (None: cleartext)."""
    return _workload.client_context if _workload is not None else None


def connector(**kwargs: Any) -> aiohttp.TCPConnector:
    """An aiohttp connector for peers (gRPC proxying's tunnel): with mTLS, one that checks the
    peer's SPIFFE id on connect. Invocation itself uses ``runtime.appchannel._h1``."""
    if _workload is None:
        return aiohttp.TCPConnector(ssl=False, **kwargs)
    from runtime.security.peer import VerifyingConnector

    return VerifyingConnector(_workload, **kwargs)


def scheme() -> str:
    return "https" if _workload is not None else "http"
