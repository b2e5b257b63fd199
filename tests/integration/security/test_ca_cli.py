"""``tandem ca init|show|issue`` through the real command line, and the shared-CA flow the
README documents: one CA created once, given to sidecars on two "hosts" (their own
TANDEM_HOMEs) by flags and by Dapr's variables, which then call each other over mTLS; a
certificate from ``ca issue`` is accepted by a sidecar of that CA."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import ssl
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from runtime.security.ca import DEFAULT_SKEW
from tests.integration.harness import Sidecar, free_port, run_tandem
from tests.integration.security.conftest import ECHO_APP

pytestmark = pytest.mark.integration

LONG_ID = "a" * 70  # longer than a certificate's common name may be


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def ok(args: list[str], home: Path, env: dict[str, str] | None = None) -> str:
    result = run_tandem(["ca", *args], home=home, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(args: list[str], home: Path, env: dict[str, str] | None = None, code: int = 1) -> str:
    """Run a ``tandem ca`` command that must fail cleanly; its error output."""
    result = run_tandem(["ca", *args], home=home, env=env)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
    return result.stderr


def pem_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture(scope="module")
def ca_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TANDEM_HOME holding a CA made by ``tandem ca init --trust-domain example.org``."""
    home = tmp_path_factory.mktemp("ca-host") / "home"
    out = ok(["init", "--trust-domain", "example.org"], home)
    cert = pem_cert(home / "ca" / "ca.crt")
    assert cert.fingerprint(hashes.SHA256()).hex(":") in out
    return home


# init -------------------------------------------------------------------------------------


def test_init_creates_a_ca_with_a_private_key(ca_home: Path) -> None:
    folder = ca_home / "ca"
    assert mode(folder) == 0o700
    assert mode(folder / "ca.key") == 0o600
    cert = pem_cert(folder / "ca.crt")
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "example.org" in cert.subject.rfc4514_string()
    key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == cert.public_key()
    cert.verify_directly_issued_by(cert)  # self-signed


def test_init_never_replaces_a_ca(ca_home: Path) -> None:
    before = {p.name: p.read_bytes() for p in (ca_home / "ca").iterdir()}
    err = refused(["init"], ca_home)
    assert err.startswith("tandem ca init: ")
    assert "a CA already exists there" in err
    assert {p.name: p.read_bytes() for p in (ca_home / "ca").iterdir()} == before


def test_init_refuses_a_trust_domain_spiffe_forbids(tmp_path: Path) -> None:
    err = refused(["init", "--trust-domain", "My Org"], tmp_path)
    assert err.startswith("tandem ca init: trust domain 'My Org': use lowercase letters"), err
    assert not (tmp_path / "ca").exists()


# show -------------------------------------------------------------------------------------


def _shown(out: str, cert: x509.Certificate) -> None:
    assert f"trust anchor  {cert.subject.rfc4514_string()}" in out
    assert f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC" in out
    assert f"sha256      {cert.fingerprint(hashes.SHA256()).hex(':')}" in out
    assert "PRIVATE KEY" not in out


def test_show_prints_the_local_ca_without_its_key(ca_home: Path) -> None:
    out = ok(["show"], ca_home)
    assert out.startswith(f"CA from {ca_home / 'ca' / 'ca.crt'}")
    _shown(out, pem_cert(ca_home / "ca" / "ca.crt"))
    assert ok(["show", "--pem"], ca_home) == (ca_home / "ca" / "ca.crt").read_text()


def _files(home: Path) -> list[str]:
    crt, key = home / "ca" / "ca.crt", home / "ca" / "ca.key"
    return ["--trust-anchors-file", str(crt), "--issuer-cert", str(crt), "--issuer-key", str(key)]


def _variables(home: Path) -> dict[str, str]:
    crt = (home / "ca" / "ca.crt").read_text()
    key = (home / "ca" / "ca.key").read_text()
    return {"DAPR_TRUST_ANCHORS": crt, "DAPR_CERT_CHAIN": crt, "DAPR_CERT_KEY": key}


def test_show_reads_the_ca_from_flags_or_dapr_variables(ca_home: Path, tmp_path: Path) -> None:
    cert = pem_cert(ca_home / "ca" / "ca.crt")
    empty = tmp_path / "elsewhere"
    out = ok(["show", *_files(ca_home)], empty)
    assert out.startswith(f"CA from {ca_home / 'ca' / 'ca.crt'}")
    _shown(out, cert)
    out = ok(["show"], empty, env=_variables(ca_home))
    assert out.startswith("CA from DAPR_CERT_CHAIN")
    _shown(out, cert)
    assert not (empty / "ca").exists()


# issue ------------------------------------------------------------------------------------


def test_issue_writes_a_workload_certificate_signed_by_the_ca(
    ca_home: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "orders"
    args = ["--app-id", "orders", "--namespace", "shop", "--trust-domain", "example.org"]
    out = ok(["issue", *args, "--ttl", "2h", "--out-dir", str(out_dir)], ca_home)
    assert out.startswith("spiffe://example.org/ns/shop/orders: ")
    ca = pem_cert(ca_home / "ca" / "ca.crt")
    cert = pem_cert(out_dir / "cert.pem")
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    assert uris == ["spiffe://example.org/ns/shop/orders"]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(hours=2) + (
        DEFAULT_SKEW
    )
    assert mode(out_dir / "key.pem") == 0o600
    key = serialization.load_pem_private_key((out_dir / "key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == cert.public_key()
    assert (out_dir / "ca.pem").read_bytes() == (ca_home / "ca" / "ca.crt").read_bytes()
    # issuing again replaces the key and certificate, the key still private
    ok(["issue", *args, "--out-dir", str(out_dir)], ca_home)
    assert mode(out_dir / "key.pem") == 0o600
    assert pem_cert(out_dir / "cert.pem").serial_number != cert.serial_number


def test_issue_for_an_app_id_too_long_for_a_common_name(ca_home: Path, tmp_path: Path) -> None:
    ok(["issue", "--app-id", LONG_ID, "--out-dir", str(tmp_path)], ca_home)
    cert = pem_cert(tmp_path / "cert.pem")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://public/ns/default/{LONG_ID}"
    ]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--app-id", "a/b"], "app id 'a/b'"),
        (["--app-id", "a b"], "app id 'a b'"),
        (["--app-id", ""], "app id ''"),
        (["--app-id", ".."], "app id '..'"),
        (["--app-id", "ok", "--namespace", "x/y"], "namespace 'x/y'"),
        (["--app-id", "ok", "--trust-domain", "Example.org"], "trust domain 'Example.org'"),
    ],
)
def test_issue_refuses_an_id_spiffe_forbids(
    ca_home: Path, tmp_path: Path, flags: list[str], named: str
) -> None:
    err = refused(["issue", *flags, "--out-dir", str(tmp_path / "out")], ca_home)
    assert err.startswith(f"tandem ca issue: {named}: use "), err
    assert not (tmp_path / "out").exists()


def test_show_and_issue_with_no_ca_fail_and_create_none(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for verb in (["show"], ["issue", "--app-id", "x", "--out-dir", str(tmp_path / "out")]):
        err = refused(verb, home)
        assert err.startswith(f"tandem ca {verb[0]}: no CA in {home / 'ca'}: "), err
        assert "tandem ca init" in err
    assert not (home / "ca").exists()
    assert not (tmp_path / "out").exists()
    # and `init` still works afterwards (show used to create a CA, so init then refused)
    ok(["init"], home)


def test_unreadable_or_incomplete_ca_sources_are_named(ca_home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    nothing = ["--trust-anchors-file", str(missing), "--issuer-cert", str(missing)]
    err = refused(["show", *nothing, "--issuer-key", str(missing)], tmp_path)
    assert err.startswith(f"tandem ca show: {missing}: cannot read"), err
    err = refused(["show", "--trust-anchors-file", str(ca_home / "ca" / "ca.crt")], tmp_path)
    assert "go together: give all three" in err
    partial = {"DAPR_TRUST_ANCHORS": (ca_home / "ca" / "ca.crt").read_text()}
    err = refused(["show"], tmp_path, env=partial)
    assert "DAPR_CERT_CHAIN, DAPR_CERT_KEY not set" in err
    assert "BEGIN" not in err  # no PEM text in messages
    err = refused(["issue", "--app-id", "x", "--ttl", "soon", "--out-dir", "d"], tmp_path, code=2)
    assert "'soon' is not a duration" in err


# the shared CA across two hosts -----------------------------------------------------------


@dataclass
class Hosts:
    flags: Sidecar  # given the CA by --trust-anchors-file, --issuer-cert, --issuer-key
    variables: Sidecar  # given it by DAPR_TRUST_ANCHORS, DAPR_CERT_CHAIN, DAPR_CERT_KEY
    variables_internal: int


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory, ca_home: Path) -> Iterator[Hosts]:
    """Two sidecars with their own TANDEM_HOME (as on two hosts), sharing only the CA and a
    name-resolution file."""
    shared = tmp_path_factory.mktemp("shared")
    config = shared / "resolver.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "dapr.io/v1alpha1",
                "kind": "Configuration",
                "metadata": {"name": "shared-resolver"},
                "spec": {
                    "nameResolution": {
                        "component": "sqlite",
                        "configuration": {"path": str(shared / "names.db")},
                    }
                },
            }
        )
    )

    def spec(app_id: str, *args: str) -> dict[str, object]:
        port = free_port()
        return {
            "app_id": app_id,
            "empty_resources": True,
            "args": ["--app-port", str(port), "--config", str(config), *args],
            "app_command": [sys.executable, str(ECHO_APP), str(port)],
        }

    internal = free_port()
    host_a, host_b = tmp_path_factory.mktemp("host-a"), tmp_path_factory.mktemp("host-b")
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(Sidecar.start(host_a, **spec("front", *_files(ca_home))))
        b_spec = spec("back", "--dapr-internal-grpc-port", str(internal))
        b = stack.enter_context(Sidecar.start(host_b, env=_variables(ca_home), **b_spec))
        a.wait_ready()
        b.wait_ready()
        yield Hosts(a, b, internal)


def test_sidecars_given_one_ca_call_each_other_over_mtls(hosts: Hosts) -> None:
    for caller, callee in ((hosts.flags, hosts.variables), (hosts.variables, hosts.flags)):
        r = caller.request("GET", f"/v1.0/invoke/{callee.app_id}/method/echo/x")
        assert r.status == 200, r.text
        assert r.json()["headers"]["dapr-caller-app-id"] == caller.app_id
        assert "(mTLS)" in callee.logs()
        # the given CA, not a local one: neither host created $TANDEM_HOME/ca
        assert not (caller.home / "ca").exists()


def _issued_client(ca_home: Path, out_dir: Path, app_id: str) -> ssl.SSLContext:
    ok(["issue", "--app-id", app_id, "--out-dir", str(out_dir)], ca_home)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(out_dir / "ca.pem")
    ctx.load_cert_chain(out_dir / "cert.pem", out_dir / "key.pem")
    return ctx


@pytest.mark.parametrize("app_id", ["reporter", LONG_ID])
def test_a_certificate_from_ca_issue_is_accepted_by_a_sidecar_of_that_ca(
    hosts: Hosts, ca_home: Path, tmp_path: Path, app_id: str
) -> None:
    ctx = _issued_client(ca_home, tmp_path, app_id)
    conn = http.client.HTTPSConnection(
        "127.0.0.1", hosts.variables_internal, context=ctx, timeout=10
    )
    try:
        conn.request("GET", "/v1.0/internal/invoke/echo/y", headers={"dapr-callee-app-id": "back"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, body
    headers = json.loads(body)["headers"]
    assert (headers["dapr-caller-app-id"], headers["dapr-caller-namespace"]) == (
        app_id,
        "default",
    )


# an intermediate per host, the root key kept offline (SECURITY.md) ------------------------


def _intermediate(root_home: Path, folder: Path, label: str) -> tuple[Path, Path]:
    """An intermediate CA signed by the root of ``tandem ca init`` in ``root_home``: its
    certificate and key files in ``folder``."""
    root = pem_cert(root_home / "ca" / "ca.crt")
    root_key = serialization.load_pem_private_key((root_home / "ca" / "ca.key").read_bytes(), None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, f"intermediate {label}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    crt_path, key_path = folder / "issuer.crt", folder / "issuer.key"
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return crt_path, key_path


def test_hosts_with_their_own_intermediate_of_one_root_call_each_other(
    tmp_path: Path,
) -> None:
    root_home = tmp_path / "offline"
    ok(["init"], root_home)
    anchors = str(root_home / "ca" / "ca.crt")
    internal = free_port()

    def spec(host: str, *args: str) -> dict[str, object]:
        crt, key = _intermediate(root_home, tmp_path / host / "issuer", host)
        port = free_port()
        flags = ["--trust-anchors-file", anchors, "--issuer-cert", str(crt), "--issuer-key"]
        return {
            "app_id": host,
            "empty_resources": True,
            "args": ["--app-port", str(port), *flags, str(key), *args],
            "app_command": [sys.executable, str(ECHO_APP), str(port)],
        }

    # one TANDEM_HOME (tmp_path / "home") for name resolution; the CA comes from the flags
    with (
        Sidecar.start(tmp_path, **spec("east")) as east,
        Sidecar.start(tmp_path, **spec("west", "--dapr-internal-grpc-port", str(internal))) as west,
    ):
        east.wait_ready()
        west.wait_ready()
        for caller, callee in ((east, west), (west, east)):
            r = caller.request("GET", f"/v1.0/invoke/{callee.app_id}/method/echo/x")
            assert r.status == 200, (r.text, callee.logs()[-2000:])
            assert r.json()["headers"]["dapr-caller-app-id"] == caller.app_id
        assert not (tmp_path / "home" / "ca").exists()
        # `ca issue` with an intermediate as the issuer: cert.pem carries the chain a peer
        # that trusts only the root needs
        crt, key = _intermediate(root_home, tmp_path / "tool", "tool")
        out = tmp_path / "tool" / "out"
        source = ["--trust-anchors-file", anchors, "--issuer-cert", str(crt), "--issuer-key"]
        ok(["issue", "--app-id", "tool", *source, str(key), "--out-dir", str(out)], tmp_path)
        chain = x509.load_pem_x509_certificates((out / "cert.pem").read_bytes())
        assert [c.subject for c in chain[1:]] == [pem_cert(crt).subject]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(out / "ca.pem")
        ctx.load_cert_chain(out / "cert.pem", out / "key.pem")
        conn = http.client.HTTPSConnection("127.0.0.1", internal, context=ctx, timeout=10)
        try:
            conn.request(
                "GET", "/v1.0/internal/invoke/echo/z", headers={"dapr-callee-app-id": "west"}
            )
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["headers"]["dapr-caller-app-id"] == "tool"
        finally:
            conn.close()
