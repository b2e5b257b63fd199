"""The CA: local creation, loading from files and Dapr's variables, workload certificates."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from runtime.security.ca import Authority, CAError, CASource, load_authority, pem_bundle
from runtime.security.spiffe import SpiffeError, SpiffeId, checked_spiffe_id, spiffe_id_of

ID = SpiffeId("public", "default", "orders")


def key_pem(a: Authority) -> bytes:
    return a.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_local_ca_is_created_once_with_a_private_key(tmp_path: Path) -> None:
    first = load_authority(CASource(), {}, tmp_path)
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca").stat().st_mode) == 0o700
    again = load_authority(CASource(), {}, tmp_path)
    assert again.anchors == first.anchors


def test_workload_certificate(tmp_path: Path) -> None:
    ca = load_authority(CASource(), {}, tmp_path)
    now = dt.datetime.now(dt.UTC)
    cert, _ = ca.issue(ID, now=now)
    assert spiffe_id_of(cert) == ID
    assert str(ID) == "spiffe://public/ns/default/orders"
    assert cert.not_valid_before_utc <= now - dt.timedelta(minutes=5)  # clock skew
    assert abs(cert.not_valid_after_utc - now - dt.timedelta(hours=24)) < dt.timedelta(seconds=1)
    cert.verify_directly_issued_by(ca.issuer)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_files_and_env(tmp_path: Path) -> None:
    ca = Authority.create()
    bundle = pem_bundle(list(ca.anchors))
    (tmp_path / "a.pem").write_bytes(bundle)
    (tmp_path / "k.pem").write_bytes(key_pem(ca))
    src = CASource(tmp_path / "a.pem", tmp_path / "a.pem", tmp_path / "k.pem")
    assert load_authority(src, {}, tmp_path / "home").anchors == ca.anchors
    env = {
        "DAPR_TRUST_ANCHORS": bundle.decode(),
        "DAPR_CERT_CHAIN": bundle.decode(),
        "DAPR_CERT_KEY": key_pem(ca).decode(),
    }
    assert load_authority(CASource(), env, tmp_path / "home").anchors == ca.anchors
    assert not (tmp_path / "home").exists()  # no local CA created


def test_missing_and_bad_files_are_named_without_key_material(tmp_path: Path) -> None:
    ca = Authority.create()
    other = Authority.create()
    (tmp_path / "a.pem").write_bytes(pem_bundle(list(ca.anchors)))
    (tmp_path / "k.pem").write_bytes(key_pem(other))
    (tmp_path / "junk.pem").write_bytes(b"not pem")
    with pytest.raises(CAError, match=r"missing\.pem: cannot read"):
        load_authority(
            CASource(tmp_path / "a.pem", tmp_path / "missing.pem", tmp_path / "k.pem"), {}, tmp_path
        )
    with pytest.raises(CAError, match=r"junk\.pem: no PEM certificate") as info:
        load_authority(
            CASource(tmp_path / "junk.pem", tmp_path / "a.pem", tmp_path / "k.pem"), {}, tmp_path
        )
    with pytest.raises(CAError, match=r"k\.pem: the key does not match") as info:
        load_authority(
            CASource(tmp_path / "a.pem", tmp_path / "a.pem", tmp_path / "k.pem"), {}, tmp_path
        )
    assert "PRIVATE KEY" not in str(info.value)
    with pytest.raises(CAError, match="go together"):
        load_authority(CASource(tmp_path / "a.pem"), {}, tmp_path)
    with pytest.raises(CAError, match="DAPR_CERT_KEY"):
        load_authority(CASource(), {"DAPR_TRUST_ANCHORS": "x", "DAPR_CERT_CHAIN": "y"}, tmp_path)


def test_issuer_must_chain_to_the_anchors(tmp_path: Path) -> None:
    ca, other = Authority.create(), Authority.create()
    (tmp_path / "a.pem").write_bytes(pem_bundle(list(ca.anchors)))
    (tmp_path / "o.pem").write_bytes(pem_bundle(list(other.anchors)))
    (tmp_path / "k.pem").write_bytes(key_pem(other))
    with pytest.raises(CAError, match=r"o\.pem: not signed by"):
        load_authority(
            CASource(tmp_path / "a.pem", tmp_path / "o.pem", tmp_path / "k.pem"), {}, tmp_path
        )


@pytest.mark.parametrize(
    "uri",
    ["https://x/ns/a/b", "spiffe://td/a/b", "spiffe://td/ns//b", "spiffe://td/ns/a/b/c"],
)
def test_malformed_spiffe_ids(uri: str) -> None:
    with pytest.raises(SpiffeError):
        SpiffeId.parse(uri)


def test_an_app_id_too_long_for_a_common_name_still_gets_a_certificate(tmp_path: Path) -> None:
    ca = load_authority(CASource(), {}, tmp_path)
    long_id = SpiffeId("public", "default", "a" * 70)
    cert, _ = ca.issue(long_id)
    assert spiffe_id_of(cert) == long_id
    assert cert.subject == x509.Name([])  # the critical SAN names it
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    short, _ = ca.issue(ID)
    assert short.subject.rfc4514_string() == "CN=orders"


@pytest.mark.parametrize(
    ("parts", "named"),
    [
        (("Public", "default", "x"), "trust domain 'Public'"),
        (("", "default", "x"), "trust domain ''"),
        (("public", "a/b", "x"), "namespace 'a/b'"),
        (("public", "default", "."), "app id '.'"),
        (("public", "default", "a b"), "app id 'a b'"),
        (("public", "default", "é"), "app id 'é'"),
    ],
)
def test_checked_spiffe_id_names_the_forbidden_part(
    parts: tuple[str, str, str], named: str
) -> None:
    with pytest.raises(SpiffeError, match=f"^{named}: use "):
        checked_spiffe_id(*parts)


def test_checked_spiffe_id_accepts_the_standards_characters() -> None:
    assert str(checked_spiffe_id("my-org.example_1", "ns_1", "Orders-v2.1")) == (
        "spiffe://my-org.example_1/ns/ns_1/Orders-v2.1"
    )


def test_a_root_leaves_room_for_one_intermediate() -> None:
    root = Authority.create().anchors[0]
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, 1)
