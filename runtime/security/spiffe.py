"""Workload identities as SPIFFE ids: ``spiffe://<trust-domain>/ns/<namespace>/<app-id>``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["SpiffeError", "SpiffeId", "spiffe_id_of"]

_PREFIX = "spiffe://"


class SpiffeError(ValueError):
    """A certificate or URI carries no usable SPIFFE id; the message says why."""


class SpiffeId(msgspec.Struct, frozen=True):
    trust_domain: str
    namespace: str
    app_id: str

    def __str__(self) -> str:
        return f"{_PREFIX}{self.trust_domain}/ns/{self.namespace}/{self.app_id}"

    @classmethod
    def parse(cls, uri: str) -> SpiffeId:
        if not uri.startswith(_PREFIX):
            raise SpiffeError(f"{uri!r} is not a spiffe:// URI")
        parts = uri[len(_PREFIX) :].split("/")
        if len(parts) != 4 or parts[1] != "ns" or not all(parts):
            raise SpiffeError(f"{uri!r} is not spiffe://<trust-domain>/ns/<namespace>/<app-id>")
        return cls(trust_domain=parts[0], namespace=parts[2], app_id=parts[3])


def spiffe_id_of(cert: x509.Certificate) -> SpiffeId:
    """The one SPIFFE id in ``cert``'s URI SANs; SpiffeError when none or several."""
    from cryptography import x509  # only with mTLS: cryptography costs ~9 MB of RSS

    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise SpiffeError("the certificate has no subject alternative name") from None
    uris = [u for u in sans.get_values_for_type(x509.UniformResourceIdentifier)]
    spiffe = [u for u in uris if u.startswith(_PREFIX)]
    if len(spiffe) != 1:
        raise SpiffeError(f"the certificate has {len(spiffe)} SPIFFE URI SANs, not exactly one")
    return SpiffeId.parse(spiffe[0])
