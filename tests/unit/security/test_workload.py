"""Workload certificates: mTLS contexts, and rotation that keeps open connections."""

from __future__ import annotations

import asyncio
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from runtime.security.ca import Authority, pem_bundle
from runtime.security.spiffe import SpiffeId, spiffe_id_of
from runtime.security.workload import Workload

CA = Authority.create()


def serial_of(writer: asyncio.StreamWriter) -> int:
    ssl_object = writer.get_extra_info("ssl_object")
    assert isinstance(ssl_object, ssl.SSLObject)
    der = ssl_object.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


async def test_rotation_keeps_connections_and_new_handshakes_get_the_new_certificate() -> None:
    server_side = Workload(CA, SpiffeId("public", "default", "callee"))
    client_side = Workload(CA, SpiffeId("public", "default", "caller"))
    assert server_side.server_context.minimum_version is ssl.TLSVersion.TLSv1_3
    assert spiffe_id_of(server_side.certificate) == SpiffeId("public", "default", "callee")

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_side.server_context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_side.client_context
        )
        first = serial_of(writer)
        assert first == server_side.certificate.serial_number
        server_side.rotate()
        assert server_side.certificate.serial_number != first
        writer.write(b"still here\n")
        assert await reader.readline() == b"still here\n"  # the open connection lives on
        r2, w2 = await asyncio.open_connection("127.0.0.1", port, ssl=client_side.client_context)
        assert serial_of(w2) == server_side.certificate.serial_number
        for w in (writer, w2):
            w.close()
            await w.wait_closed()
        del r2


def test_renewal_is_due_before_expiry() -> None:
    w = Workload(CA, SpiffeId("public", "default", "x"))
    assert 0 < w.renew_in() < 24 * 3600 * 2 / 3 + 60


async def test_a_bundle_with_two_roots_trusts_both_during_a_ca_rotation() -> None:
    old, new = Authority.create(), Authority.create()
    bundle = pem_bundle([*old.anchors, *new.anchors])

    def key(a: Authority) -> bytes:
        return a.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    names = ("bundle", "issuer", "key")
    before = Authority.from_pem(bundle, pem_bundle(list(old.anchors)), key(old), names=names)
    after = Authority.from_pem(bundle, pem_bundle(list(new.anchors)), key(new), names=names)
    server_side = Workload(before, SpiffeId("public", "default", "callee"))
    client_side = Workload(after, SpiffeId("public", "default", "caller"))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_side.server_context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_side.client_context
        )
        writer.write(b"hi\n")
        assert await reader.readline() == b"hi\n"  # the server accepted the new CA's client
        writer.close()
        await writer.wait_closed()
