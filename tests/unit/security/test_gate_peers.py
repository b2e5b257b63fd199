"""``Gate`` with mTLS: the caller's identity comes from the connection's peer certificate,
read once per connection (it cannot change while the connection lasts)."""

from __future__ import annotations

import ssl
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from runtime.appchannel.base import InvokeRequest
from runtime.internal import wire
from runtime.security.ca import Authority
from runtime.security.gate import Gate
from runtime.security.spiffe import SpiffeId


class _Transport:
    def __init__(self, ssl_object: ssl.SSLObject) -> None:
        self.ssl_object = ssl_object

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"ssl_object": self.ssl_object, "peername": ("127.0.0.1", 1)}.get(name, default)


def _connection(der: bytes, reads: list[int]) -> _Transport:
    ssl_object = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())

    def getpeercert(binary_form: bool = False) -> bytes:
        reads.append(1)
        return der

    ssl_object.getpeercert = getpeercert  # type: ignore[assignment,method-assign]
    return _Transport(ssl_object)


def test_the_peer_certificate_is_read_once_per_connection() -> None:
    authority = Authority.create(trust_domain="public")
    der = {
        app: authority.issue(SpiffeId("public", "default", app))[0].public_bytes(Encoding.DER)
        for app in ("caller", "other")
    }
    gate = Gate(SpiffeId("public", "default", "callee"), mtls=True, policy=None)
    reads: list[int] = []
    first, second = _connection(der["caller"], reads), _connection(der["other"], reads)
    forged = InvokeRequest(method="m", verb="GET", headers=((wire.CALLER_APP_ID, "forged"),))
    for _ in range(3):
        for transport, app in ((first, "caller"), (second, "other")):
            admitted = gate.admit(transport, forged)  # type: ignore[arg-type]
            assert dict(admitted.headers)[wire.CALLER_APP_ID] == app
            assert dict(admitted.headers)[wire.CALLER_NAMESPACE] == "default"
    assert len(reads) == 2
