"""The one place that creates the TLS contexts of the sidecar-to-sidecar channel.

Today the channel is cleartext on loopback or a trusted network: both functions return None.
The security work (mTLS with workload certificates) returns real contexts here; the client and
the server take whatever these give, and ``scheme()`` follows.
"""

from __future__ import annotations

import ssl

__all__ = ["client_context", "scheme", "server_context"]


def server_context() -> ssl.SSLContext | None:
    """The context the internal server listens with (None: cleartext)."""
    return None


def client_context() -> ssl.SSLContext | None:
    """The context used to connect to peer sidecars (None: cleartext)."""
    return None


def scheme() -> str:
    return "https" if client_context() is not None else "http"
