"""This sidecar's workload certificate and the mTLS contexts built on it.

One ``Workload`` per sidecar: a short-lived certificate for its SPIFFE id, issued by the
``Authority``, loaded into one server and one client ``SSLContext`` (TLS 1.3 only, peer
certificate required and verified against the trust anchors). ``rotate`` issues a new certificate
into the same contexts: connections already open keep theirs, new handshakes use the new one.
``run_rotation`` does it when two thirds of the lifetime have passed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from runtime.security.ca import (
    DEFAULT_SKEW,
    DEFAULT_TTL,
    Authority,
    pem_bundle,
    presented_chain,
)
from runtime.security.spiffe import SpiffeError, SpiffeId, spiffe_id_of

__all__ = ["Workload", "peer_spiffe_id"]

log = logging.getLogger("tandem.security")


def _context(purpose: ssl.Purpose, anchors: bytes) -> ssl.SSLContext:
    server = purpose is ssl.Purpose.CLIENT_AUTH
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # identities are SPIFFE URIs, checked by peer_spiffe_id
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=anchors.decode("ascii"))
    return ctx


@functools.lru_cache(maxsize=1024)
def _identity(der: bytes) -> SpiffeId:
    """Parsed once per certificate (every request on a connection presents the same one)."""
    return spiffe_id_of(x509.load_der_x509_certificate(der))


def peer_spiffe_id(der: bytes | None, trust_domain: str) -> SpiffeId:
    """The verified peer certificate's SPIFFE id (the chain was checked by the handshake);
    SpiffeError naming the reason when it has none or belongs to another trust domain."""
    if der is None:
        raise SpiffeError("the peer presented no certificate")
    identity = _identity(der)
    if identity.trust_domain != trust_domain:
        raise SpiffeError(
            f"peer {identity} is in trust domain {identity.trust_domain!r}, not {trust_domain!r}"
        )
    return identity


class Workload:
    def __init__(
        self,
        authority: Authority,
        identity: SpiffeId,
        *,
        ttl: dt.timedelta = DEFAULT_TTL,
        skew: dt.timedelta = DEFAULT_SKEW,
    ) -> None:
        self.authority = authority
        self.identity = identity
        self._ttl = ttl
        self._skew = skew
        anchors = pem_bundle(list(authority.anchors))
        self.server_context = _context(ssl.Purpose.CLIENT_AUTH, anchors)
        self.client_context = _context(ssl.Purpose.SERVER_AUTH, anchors)
        self.certificate: x509.Certificate
        self._issued_at: dt.datetime
        self.rotate()

    @property
    def trust_domain(self) -> str:
        return self.identity.trust_domain

    def rotate(self) -> None:
        """Issue a new certificate and key into both contexts (new handshakes use them)."""
        now = dt.datetime.now(dt.UTC)
        cert, key = self.authority.issue(self.identity, ttl=self._ttl, skew=self._skew, now=now)
        chain = presented_chain(self.authority, cert)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # load_cert_chain reads files only: a private folder, removed at once
        with tempfile.TemporaryDirectory(prefix="tandem-cert-") as folder:
            cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
            cert_path.write_bytes(pem_bundle(chain))
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key_pem)
            for ctx in (self.server_context, self.client_context):
                ctx.load_cert_chain(cert_path, key_path)
        self.certificate = cert
        self._issued_at = now
        log.info(
            "workload certificate for %s issued by %s, valid until %s",
            self.identity,
            self.authority.origin,
            cert.not_valid_after_utc.isoformat(timespec="seconds"),
        )

    def renew_in(self) -> float:
        """Seconds until the certificate should be renewed (two thirds of its lifetime)."""
        lifetime = self.certificate.not_valid_after_utc - self._issued_at
        due = self._issued_at + lifetime * 2 / 3
        return max(1.0, (due - dt.datetime.now(dt.UTC)).total_seconds())

    async def run_rotation(self) -> None:
        """Rotate before expiry, forever (cancel to stop); a failure is retried in a minute."""
        delay = self.renew_in()
        while True:
            await asyncio.sleep(delay)
            try:
                self.rotate()
                delay = self.renew_in()
            except Exception:
                log.exception("could not renew the workload certificate; retrying in 60 s")
                delay = 60.0
