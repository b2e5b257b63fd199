"""A gRPC call over raw HTTP/2 (h2), for what grpcio's client refuses to send: header values
that are not ASCII (a Latin-1 ``dapr-api-token``) and arbitrary request bytes.

Blocking; run it with ``asyncio.to_thread`` from async tests.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.events

__all__ = ["RawReply", "raw_grpc_call"]


@dataclass
class RawReply:
    headers: dict[bytes, bytes] = field(default_factory=dict)  # response headers and trailers
    data: bytes = b""

    @property
    def status(self) -> int:
        return int(self.headers.get(b"grpc-status", b"-1"))

    @property
    def message(self) -> str:
        return unquote(self.headers.get(b"grpc-message", b"").decode("ascii"))


def raw_grpc_call(
    port: int,
    path: str,
    messages: list[bytes],
    metadata: Sequence[tuple[bytes, bytes]] = (),
    timeout: float = 10.0,
) -> RawReply:
    """Sends ``messages`` (each framed as one gRPC message) on one stream; returns the reply."""
    config = h2.config.H2Configuration(
        client_side=True,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        header_encoding=None,
    )
    conn = h2.connection.H2Connection(config)
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    headers = [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", path.encode()),
        (b":authority", b"127.0.0.1"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
        *metadata,
    ]
    conn.send_headers(stream, headers)
    body = b"".join(b"\x00" + len(m).to_bytes(4, "big") + m for m in messages)
    conn.send_data(stream, body, end_stream=True)
    reply = RawReply()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(conn.data_to_send())
        ended = False
        while not ended:
            chunk = sock.recv(65536)
            if not chunk:
                break
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    reply.headers.update(dict(event.headers))
                elif isinstance(event, h2.events.DataReceived):
                    reply.data += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    ended = True
            sock.sendall(conn.data_to_send())
    return reply
