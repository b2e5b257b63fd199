"""mTLS between two real sidecars, and what happens to peers that do not belong."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import ssl
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from runtime.security.ca import Authority, CASource, load_authority, pem_bundle
from runtime.security.spiffe import SpiffeId
from tests.integration.harness import Sidecar, wait_until
from tests.integration.security.conftest import Pair, echo_sidecar

pytestmark = pytest.mark.integration

ALPHA = SpiffeId("public", "default", "alpha")
# the callee aborts the TLS 1.3 handshake: an alert, or the connection closed under the client
REFUSED = (ssl.SSLError, ConnectionError, http.client.HTTPException)


def client_context(ca: Authority, identity: SpiffeId | None, **issue: object) -> ssl.SSLContext:
    """A TLS 1.3 client trusting the shared CA and presenting a certificate issued by ``ca``."""
    shared = load_authority(CASource(), {}, _home)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(cadata=pem_bundle(list(shared.anchors)).decode())
    if identity is not None:
        cert, key = ca.issue(identity, **issue)  # type: ignore[arg-type]
        with tempfile.TemporaryDirectory() as d:
            c, k = Path(d, "c.pem"), Path(d, "k.pem")
            c.write_bytes(pem_bundle([cert]))
            k.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            ctx.load_cert_chain(c, k)
    return ctx


_home = Path()


@pytest.fixture(autouse=True)
def _shared_home(pair: Pair) -> None:
    global _home  # noqa: PLW0603
    _home = pair.home


def internal_call(
    pair: Pair, ctx: ssl.SSLContext, path: str = "echo/x", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", pair.beta_internal, context=ctx, timeout=10)
    try:
        conn.request(
            "GET",
            "/v1.0/internal/invoke/" + path,
            headers={"dapr-callee-app-id": "beta", **(headers or {})},
        )
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def assert_refusal_logged(pair: Pair, reason: str) -> None:
    """The callee logs one line naming the peer's address and the reason (no key material)."""

    def line() -> str | None:
        for text in pair.beta.logs().splitlines():
            if "refused a TLS connection from 127.0.0.1:" in text and reason in text:
                return text
        return None

    assert wait_until(lambda: line() is not None, 10), pair.beta.logs()[-3000:]
    assert "PRIVATE KEY" not in pair.beta.logs()


def test_invocation_over_mtls_carries_the_verified_caller(pair: Pair) -> None:
    r = pair.alpha.request(
        "GET", "/v1.0/invoke/beta/method/echo/x", headers={"dapr-caller-app-id": "mallory"}
    )
    assert r.status == 200, r.text
    assert r.json()["headers"]["dapr-caller-app-id"] == "alpha"
    assert "sidecar-to-sidecar calls on port" in pair.beta.logs()
    assert "(mTLS)" in pair.beta.logs()


def test_a_header_claiming_another_id_is_ignored(pair: Pair) -> None:
    ca = load_authority(CASource(), {}, pair.home)
    status, body = internal_call(
        pair,
        client_context(ca, ALPHA),
        headers={"dapr-caller-app-id": "admin", "dapr-caller-namespace": "kube-system"},
    )
    assert status == 200, body
    headers = json.loads(body)["headers"]
    assert headers["dapr-caller-app-id"] == "alpha"
    assert headers["dapr-caller-namespace"] == "default"


def test_plaintext_on_the_internal_port_is_refused(pair: Pair) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", pair.beta_internal, timeout=10)
    try:
        conn.request("GET", "/v1.0/internal/invoke/echo/x", headers={"dapr-callee-app-id": "beta"})
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            conn.getresponse()
    finally:
        conn.close()
    assert_refusal_logged(pair, "plaintext HTTP on the TLS port")


def test_no_client_certificate_is_refused(pair: Pair) -> None:
    ca = load_authority(CASource(), {}, pair.home)
    with pytest.raises(REFUSED):
        internal_call(pair, client_context(ca, None))
    assert_refusal_logged(pair, "the peer sent no client certificate")


def test_a_certificate_from_another_ca_is_refused(pair: Pair) -> None:
    with pytest.raises(REFUSED):
        internal_call(pair, client_context(Authority.create(), ALPHA))
    assert_refusal_logged(pair, "certificate verify failed: unable to get local issuer")


def test_an_expired_certificate_is_refused(pair: Pair) -> None:
    ca = load_authority(CASource(), {}, pair.home)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    ctx = client_context(ca, ALPHA, now=old, ttl=dt.timedelta(hours=1))
    with pytest.raises(REFUSED):
        internal_call(pair, ctx)
    assert_refusal_logged(pair, "certificate verify failed: certificate has expired")


def test_a_certificate_with_a_foreign_spiffe_id_is_refused_with_the_reason(pair: Pair) -> None:
    ca = load_authority(CASource(), {}, pair.home)
    ctx = client_context(ca, SpiffeId("evil.example", "default", "alpha"))
    status, body = internal_call(pair, ctx)
    assert status == 403
    document = json.loads(body)
    assert document["errorCode"] == "ERR_DIRECT_INVOKE"
    assert "trust domain 'evil.example'" in document["message"]
    assert pair.beta.wait_for_log("refused a call from")
    assert "PRIVATE KEY" not in pair.beta.logs()


def test_a_backdated_certificate_tolerates_clock_skew(pair: Pair) -> None:
    ca = load_authority(CASource(), {}, pair.home)
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)  # the caller's clock runs fast
    status, _ = internal_call(pair, client_context(ca, ALPHA, now=ahead))
    assert status == 200


def test_mtls_off_is_warned_and_a_mtls_peer_refuses_it(pair: Pair, tmp_path: Path) -> None:
    spec = echo_sidecar(tmp_path, "plain", "--enable-mtls=false")
    with Sidecar.start(tmp_path, **spec) as plain:
        plain.wait_ready()
        assert "mTLS between sidecars is OFF" in plain.logs()


def test_missing_ca_file_is_named_at_start(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    sc = Sidecar.spawn(
        tmp_path,
        app_id="x",
        empty_resources=True,
        args=[
            "--trust-anchors-file",
            str(missing),
            "--issuer-cert",
            str(missing),
            "--issuer-key",
            str(missing),
        ],
    )
    assert sc.wait_exit() != 0
    assert f"{missing}: cannot read" in sc.logs()


def _env_ca(ca: Authority) -> dict[str, str]:
    bundle = pem_bundle(list(ca.anchors)).decode()
    key = ca.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {"DAPR_TRUST_ANCHORS": bundle, "DAPR_CERT_CHAIN": bundle, "DAPR_CERT_KEY": key}


def test_sidecars_of_different_cas_refuse_each_other_with_the_reason(pair: Pair) -> None:
    tmp = pair.home.parent
    spec = echo_sidecar(tmp, "rogue")
    with Sidecar.start(tmp, env=_env_ca(Authority.create()), **spec) as rogue:
        rogue.wait_ready()
        # the honest caller will not talk to a sidecar its CA did not sign
        r = pair.alpha.request("GET", "/v1.0/invoke/rogue/method/echo/x")
        assert r.status == 500
        assert r.json()["errorCode"] == "ERR_DIRECT_INVOKE"
        assert "certificate verify failed" in r.json()["message"]
        # and the rogue's calls never reach beta's app
        r = rogue.request("GET", "/v1.0/invoke/beta/method/echo/x")
        assert r.status == 500, r.text
        assert "certificate verify failed" in r.json()["message"]
        assert r.json()["errorCode"] == "ERR_DIRECT_INVOKE"
        assert "PRIVATE KEY" not in rogue.logs() + pair.alpha.logs()
