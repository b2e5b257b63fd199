"""Workload identities as SPIFFE ids: ``spiffe://<trust-domain>/ns/<namespace>/<app-id>``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "SpiffeError",
    "SpiffeId",
    "checked_spiffe_id",
    "checked_trust_domain",
    "spiffe_id_of",
]

_PREFIX = "spiffe://"
# the SPIFFE ID standard: a trust domain of lowercase letters, digits, ".", "-" and "_"; path
# segments of letters, digits, ".", "-" and "_", neither "." nor ".."
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


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


def checked_trust_domain(trust_domain: str) -> str:
    """``trust_domain``, or SpiffeError when the standard forbids it."""
    if not _TRUST_DOMAIN.fullmatch(trust_domain):
        raise SpiffeError(
            f"trust domain {trust_domain!r}: use lowercase letters, digits, '.', '-' and '_'"
        )
    return trust_domain


def checked_spiffe_id(trust_domain: str, namespace: str, app_id: str) -> SpiffeId:
    """The SPIFFE id of these parts; SpiffeError naming the first part the standard forbids."""
    checked_trust_domain(trust_domain)
    for what, value in (("namespace", namespace), ("app id", app_id)):
        if not _SEGMENT.fullmatch(value) or value in (".", ".."):
            raise SpiffeError(
                f"{what} {value!r}: use letters, digits, '.', '-' and '_' (not '.' or '..')"
            )
    return SpiffeId(trust_domain, namespace, app_id)


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
