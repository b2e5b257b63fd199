"""TLS to a gRPC app (``--app-protocol grpcs``) without verifying its certificate, as Dapr does.

grpcio cannot turn verification off, so the certificate the app presents is fetched once (over
a TLS connection that does not verify it) and then trusted as the only root, with a name it was
issued for as the expected host name. That accepts an app's self-signed certificate; the
certificate is pinned for the life of the channel. Callers bound the time taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import grpc

from runtime.appchannel.base import AppChannelError

__all__ = ["pinned_credentials"]


async def pinned_credentials(host: str, port: int) -> tuple[grpc.ChannelCredentials, str | None]:
    """Credentials trusting the app's own certificate, and the host name to expect (None when
    the certificate is not self-signed: gRPC then reports the verification failure)."""
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    der, _ = await _handshake(host, port, unverified)
    pem = ssl.DER_cert_to_PEM_cert(der)
    pinned = ssl.create_default_context(cadata=pem)
    pinned.check_hostname = False
    try:  # verified against itself, to read the names it was issued for
        _, parsed = await _handshake(host, port, pinned)
    except AppChannelError:
        parsed = {}
    return grpc.ssl_channel_credentials(root_certificates=pem.encode()), _issued_name(parsed)


async def _handshake(host: str, port: int, context: ssl.SSLContext) -> tuple[bytes, dict[str, Any]]:
    try:
        _, writer = await asyncio.open_connection(host, port, ssl=context)
    except OSError as exc:  # ssl.SSLError is an OSError
        raise AppChannelError(f"TLS to the app at {host}:{port}: {exc}") from exc
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        parsed = ssl_object.getpeercert() or {}
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if not der:
        raise AppChannelError(f"the app at {host}:{port} presented no certificate")
    return der, parsed


def _issued_name(parsed: dict[str, Any]) -> str | None:
    for kind, value in parsed.get("subjectAltName", ()):
        if kind == "DNS":
            return str(value)
    for rdn in parsed.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
