"""The certificate authority that signs sidecars' workload certificates.

Where it comes from, first match wins:

1. files: ``--trust-anchors-file`` (PEM bundle), ``--issuer-cert`` and ``--issuer-key``;
2. Dapr's environment variables holding PEM text: ``DAPR_TRUST_ANCHORS``, ``DAPR_CERT_CHAIN``
   (issuer certificate) and ``DAPR_CERT_KEY`` (issuer key);
3. the local CA in ``$TANDEM_HOME/ca/`` (``ca.crt``, ``ca.key`` mode 0600), created on first use.

Every failure is a ``CAError`` naming the file or variable; key material is never in a message.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runtime.security.spiffe import SpiffeId

__all__ = [
    "CA_VALIDITY",
    "DEFAULT_SKEW",
    "DEFAULT_TTL",
    "Authority",
    "CAError",
    "CASource",
    "load_authority",
    "pem_bundle",
    "presented_chain",
]

DEFAULT_TTL = dt.timedelta(hours=24)
DEFAULT_SKEW = dt.timedelta(minutes=15)  # workload certificates start this far in the past
CA_VALIDITY = dt.timedelta(days=365 * 5)


class CAError(Exception):
    """The CA cannot be loaded, created or used; the message names the file or variable."""


class CASource(msgspec.Struct, frozen=True):
    """Explicit CA files (all three or none), from the command line."""

    trust_anchors: Path | None = None
    issuer_cert: Path | None = None
    issuer_key: Path | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CAError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _certs(data: bytes, where: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise CAError(f"{where}: no PEM certificate in it")
    return certs


def _key(data: bytes, where: str) -> CertificateIssuerPrivateKeyTypes:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise CAError(f"{where}: not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CAError(f"{where}: unsupported key type (use an EC or RSA key)")
    return key


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pem_bundle(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


class Authority(msgspec.Struct, frozen=True):
    """Trust anchors plus the issuer that signs workload certificates (one of them or below)."""

    anchors: tuple[x509.Certificate, ...]
    issuer: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    origin: str  # where it was loaded from, for logs

    @classmethod
    def create(cls, *, trust_domain: str = "public", origin: str = "new") -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        # a unique name: during a CA rotation two roots sit in one bundle
        label = f"Tandem CA ({trust_domain}) {secrets.token_hex(4)}"
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - DEFAULT_SKEW)
            .not_valid_after(now + CA_VALIDITY)
            # room for one intermediate below it: SECURITY.md's "an intermediate per host, the
            # root key offline" (0 made peers refuse: "path length constraint exceeded")
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(anchors=(cert,), issuer=cert, key=key, origin=origin)

    @classmethod
    def from_pem(
        cls, anchors: bytes, issuer: bytes, key: bytes, *, names: tuple[str, str, str]
    ) -> Authority:
        """``names``: where each part came from (file or variable), for error messages."""
        bundle = _certs(anchors, names[0])
        issuer_cert = _certs(issuer, names[1])[0]
        issuer_key = _key(key, names[2])
        if _spki(issuer_cert.public_key()) != _spki(issuer_key.public_key()):
            raise CAError(f"{names[2]}: the key does not match the certificate in {names[1]}")
        if not any(_signed_by(issuer_cert, a) for a in bundle):
            raise CAError(f"{names[1]}: not signed by (nor one of) the trust anchors in {names[0]}")
        return cls(anchors=tuple(bundle), issuer=issuer_cert, key=issuer_key, origin=names[1])

    def save(self, folder: Path) -> None:
        """Write ``ca.crt`` (0644) and ``ca.key`` (0600) into ``folder`` (0700); never
        overwrites an existing key."""
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(folder / "ca.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        (folder / "ca.crt").write_bytes(pem_bundle(list(self.anchors)))

    def issue(
        self,
        identity: SpiffeId,
        *,
        ttl: dt.timedelta = DEFAULT_TTL,
        skew: dt.timedelta = DEFAULT_SKEW,
        now: dt.datetime | None = None,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A fresh key and a certificate for ``identity``: valid from ``now - skew`` for
        ``ttl`` (never past the issuer's own expiry), for both TLS client and server use."""
        now = now or _now()
        key = ec.generate_private_key(ec.SECP256R1())
        not_after = min(now + ttl, self.issuer.not_valid_after_utc)
        # a common name holds 64 characters at most; the (critical) SAN names the workload, so a
        # longer app id leaves the subject empty (RFC 5280 4.1.2.6) rather than failing
        fits = 0 < len(identity.app_id) <= 64
        cn = [x509.NameAttribute(NameOID.COMMON_NAME, identity.app_id)] if fits else []
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(cn))
            .issuer_name(self.issuer.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - skew)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(str(identity))]),
                critical=True,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issuer.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert, key


def presented_chain(authority: Authority, cert: x509.Certificate) -> list[x509.Certificate]:
    """What a holder of ``cert`` presents in a handshake: the certificate, then the issuer when
    it is an intermediate (a peer trusting only the anchors needs it)."""
    if authority.issuer in authority.anchors:
        return [cert]
    return [cert, authority.issuer]


def _signed_by(cert: x509.Certificate, anchor: x509.Certificate) -> bool:
    if cert == anchor:
        return True
    try:
        cert.verify_directly_issued_by(anchor)
    except (ValueError, TypeError, InvalidSignature):  # not its issuer
        return False
    return True


def load_authority(
    source: CASource,
    env: Mapping[str, str],
    home: Path,
    *,
    trust_domain: str = "public",
    create: bool = True,
) -> Authority:
    """The CA by the rules in the module doc; creates the local one when none exists, or with
    ``create=False`` raises CAError naming ``tandem ca init`` (the CLI's ``show`` and ``issue``:
    creating it there would make a later ``init --trust-domain`` fail)."""
    given = (source.trust_anchors, source.issuer_cert, source.issuer_key)
    if any(given):
        if not all(given):
            raise CAError(
                "--trust-anchors-file, --issuer-cert and --issuer-key go together: give all three"
            )
        anchors, cert, key = (p for p in given if p is not None)
        return Authority.from_pem(
            _read(anchors), _read(cert), _read(key), names=(str(anchors), str(cert), str(key))
        )
    variables = ("DAPR_TRUST_ANCHORS", "DAPR_CERT_CHAIN", "DAPR_CERT_KEY")
    if any(env.get(v) for v in variables):
        missing = [v for v in variables if not env.get(v)]
        if missing:
            raise CAError(f"{', '.join(missing)} not set: {', '.join(variables)} go together")
        a, c, k = (env[v].encode() for v in variables)
        return Authority.from_pem(a, c, k, names=variables)
    folder = home / "ca"
    if not create and not folder.exists():
        raise CAError(
            f"no CA in {folder}: create one with 'tandem ca init', or give "
            f"--trust-anchors-file, --issuer-cert and --issuer-key (or {', '.join(variables)})"
        )
    return local_authority(folder, trust_domain=trust_domain)


def local_authority(folder: Path, *, trust_domain: str = "public") -> Authority:
    """The CA in ``folder``, created there when it holds none. Creation is atomic (written to a
    private folder, then renamed), so sidecars starting together end up sharing one CA."""
    crt, key = folder / "ca.crt", folder / "ca.key"
    if not folder.exists():
        authority = Authority.create(trust_domain=trust_domain, origin=str(crt))
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".ca-", dir=folder.parent))
            authority.save(staging)
        except OSError as exc:
            raise CAError(f"{folder}: cannot create the local CA: {exc.strerror or exc}") from None
        try:
            staging.rename(folder)
        except OSError:  # another sidecar created it first: use theirs
            shutil.rmtree(staging, ignore_errors=True)
        else:
            return authority
    anchors = _read(crt)
    return Authority.from_pem(anchors, anchors, _read(key), names=(str(crt), str(crt), str(key)))
