"""Slow, stalled and vanished clients against a real sidecar: connections are closed within the
configured timeouts, bodies are bounded in time and in total, memory comes back, and extended
metadata stays bounded (so ``GetMetadata`` keeps working for everyone).

Timeouts are set short through the flags; every wait polls with a deadline. Memory is read from
``/proc/<pid>/status`` (``VmRSS``) with generous bounds: they hold with room to spare after the
fix and are far exceeded without it (see bench/slow_clients.py for the measured figures).
"""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from protos.dapr.runtime.v1 import dapr_pb2_grpc, metadata_pb2
from tests.integration.harness import Sidecar, component_yaml, wait_until

pytestmark = pytest.mark.integration

MiB = 1 << 20
STORE = [component_yaml("store")]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def is_closed(sock: socket.socket) -> bool:
    """The server closed (or reset) this connection; a response, if any, is read and dropped."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def start_upload(port: int, declared: int, send: int) -> socket.socket:
    """A ``POST`` declaring ``declared`` body bytes that sends only ``send`` of them."""
    sock = connect(port)
    sock.sendall(
        b"POST /v1.0/state/store HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % declared
    )
    if send:
        sock.sendall(b"[" + b" " * (send - 1))
    return sock


def abort(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that crashes mid-upload."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def save_ok(sc: Sidecar) -> bool:
    return sc.request("POST", "/v1.0/state/store", '[{"key":"k","value":1}]').status == 204


@pytest.fixture
def short_timeouts(tmp_path: Path) -> Iterator[Sidecar]:
    with Sidecar.start(
        tmp_path,
        components=STORE,
        args=[
            "--http-header-read-timeout",
            "1",
            "--http-body-read-timeout",
            "1",
            "--http-idle-timeout",
            "2",
        ],
    ) as sc:
        yield sc


def test_idle_and_header_trickling_connections_are_closed(short_timeouts: Sidecar) -> None:
    sc = short_timeouts
    silent = [connect(sc.http_port) for _ in range(50)]
    trickling = [connect(sc.http_port) for _ in range(10)]
    for sock in trickling:
        sock.sendall(b"GET /v1.0/healthz HTTP/1.1\r\n")
    kept_alive = connect(sc.http_port)
    kept_alive.sendall(b"GET /v1.0/healthz/outbound HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(kept_alive)[0] == 204

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(map(is_closed, trickling)):
        for sock in trickling:  # a header line every 100 ms: never a complete header block
            if not is_closed(sock):
                sock.setblocking(True)
                sock.sendall(b"X-Slow: 1\r\n")
        time.sleep(0.1)
    assert all(map(is_closed, trickling)), "trickling connections were not closed"
    assert wait_until(lambda: all(map(is_closed, silent)), 10), "silent connections left open"
    assert wait_until(lambda: is_closed(kept_alive), 10), "idle keep-alive connection left open"
    assert save_ok(sc)  # the server itself is fine
    for sock in (*silent, *trickling, kept_alive):
        sock.close()


def test_keep_alive_connection_with_steady_requests_stays_open(short_timeouts: Sidecar) -> None:
    """Requests arriving more often than the timeouts keep a connection open."""
    sock = connect(short_timeouts.http_port)
    started = time.monotonic()
    while time.monotonic() - started < 4:  # longer than the header and idle timeouts
        sock.sendall(b"GET /v1.0/healthz/outbound HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[0] == 204
        time.sleep(0.3)
    sock.close()


def test_stalled_upload_is_answered_and_dropped(short_timeouts: Sidecar) -> None:
    sock = start_upload(short_timeouts.http_port, declared=MiB, send=64 * 1024)
    status, headers, body = read_response(sock, timeout=15)
    assert status == 400
    assert json.loads(body)["errorCode"] == "ERR_BODY_READ"
    assert headers.get("connection", "").lower() == "close"
    assert wait_until(lambda: is_closed(sock), 10)
    sock.close()
    assert save_ok(short_timeouts)


def test_body_bytes_in_flight_are_capped_with_503(tmp_path: Path) -> None:
    with Sidecar.start(
        tmp_path,
        components=STORE,
        args=["--max-body-size", "1Mi", "--max-inflight-body-size", "2Mi"],
    ) as sc:
        held = [start_upload(sc.http_port, declared=MiB, send=1000) for _ in range(2)]
        # the budget is taken once the sidecar has seen the two requests: the next is refused
        refused = None
        deadline = time.monotonic() + 10
        while refused is None and time.monotonic() < deadline:
            r = sc.request("POST", "/v1.0/state/store", '[{"key":"k","value":1}]')
            if r.status == 503:
                refused = r
        assert refused is not None, "no 503 with the in-flight budget taken"
        assert refused.json()["errorCode"] == "ERR_SERVER_BUSY"
        assert refused.headers.get("retry-after") == "1"
        # a declared body over --max-body-size is refused before it is read
        big = start_upload(sc.http_port, declared=2 * MiB, send=0)
        status, _, body = read_response(big)
        assert status == 413
        assert json.loads(body)["errorCode"] == "ERR_BODY_TOO_LARGE"
        big.close()
        # the budget comes back when the held uploads go away
        for sock in held:
            abort(sock)
        assert wait_until(lambda: save_ok(sc), 10)


def test_a_chunked_body_is_charged_the_body_limit(tmp_path: Path) -> None:
    """Its size is unknown up front, so a chunked upload holds --max-body-size of the budget."""
    with Sidecar.start(
        tmp_path,
        components=STORE,
        args=["--max-body-size", "1Mi", "--max-inflight-body-size", "2Mi"],
    ) as sc:
        held = []
        for _ in range(2):
            sock = connect(sc.http_port)
            sock.sendall(
                b"POST /v1.0/state/store HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n4\r\n[   \r\n"
            )
            held.append(sock)
        assert wait_until(lambda: not save_ok(sc), 10), "chunked uploads took no budget"
        r = sc.request("POST", "/v1.0/state/store", '[{"key":"k","value":1}]')
        assert (r.status, r.json()["errorCode"]) == (503, "ERR_SERVER_BUSY")
        for sock in held:
            abort(sock)
        assert wait_until(lambda: save_ok(sc), 10)


def warm_rss(sc: Sidecar) -> float:
    for _ in range(20):
        assert save_ok(sc)
    return rss_mb(sc.proc.pid)


def settles(sc: Sidecar, below: float) -> bool:
    """RSS under ``below`` MB within 20 s, normal requests going on meanwhile."""

    def check() -> bool:
        for _ in range(20):
            save_ok(sc)
        return rss_mb(sc.proc.pid) < below

    return wait_until(check, 20, interval=0.5)


NEAR_LIMIT = 4 * MiB - 1024


def test_stalled_near_limit_uploads_are_bounded_in_memory(tmp_path: Path) -> None:
    """The issue's case: 40 stalled uploads just under --max-body-size held ~7 MB each (>250 MB
    in all) and kept it; now at most --max-inflight-body-size of them are buffered."""
    with Sidecar.start(tmp_path, components=STORE) as sc:
        baseline = warm_rss(sc)
        stalled = [
            start_upload(sc.http_port, declared=NEAR_LIMIT, send=NEAR_LIMIT - 1024)
            for _ in range(40)
        ]
        assert save_ok(sc)  # the API still answers meanwhile
        held = rss_mb(sc.proc.pid)
        assert held < baseline + 150, f"RSS {held:.0f} MB with 40 stalled uploads"
        for sock in stalled:
            abort(sock)
        assert settles(sc, baseline + 30), f"RSS stayed at {rss_mb(sc.proc.pid):.0f} MB"


def test_aborted_uploads_release_their_memory(tmp_path: Path) -> None:
    """5 x 20 uploads of 4 MB aborted by the client. Their partly read bodies used to stay
    alive in reference cycles (the disconnect's traceback) until a full GC. The in-flight
    budget is raised so that every upload is buffered."""
    with Sidecar.start(
        tmp_path, components=STORE, args=["--max-inflight-body-size", "256Mi"]
    ) as sc:
        baseline = warm_rss(sc)
        for _ in range(5):
            uploads = [
                start_upload(sc.http_port, declared=NEAR_LIMIT, send=NEAR_LIMIT - 4096)
                for _ in range(20)
            ]
            assert save_ok(sc)  # every upload has been taken in by now
            for sock in uploads:
                abort(sock)
        assert settles(sc, baseline + 40), (
            f"RSS stayed at {rss_mb(sc.proc.pid):.0f} MB (baseline {baseline:.0f} MB)"
        )


def test_extended_metadata_is_bounded_and_get_metadata_keeps_working(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, components=STORE) as sc:
        big = sc.request("PUT", "/v1.0/metadata/big", b"x" * (64 * 1024 + 1))
        assert big.status == 413
        assert big.json()["errorCode"] == "ERR_METADATA_TOO_LARGE"
        assert sc.request("PUT", "/v1.0/metadata/" + "k" * 257, b"v").status == 400

        value = b"v" * 60 * 1024
        statuses = [sc.request("PUT", f"/v1.0/metadata/attr{i}", value).status for i in range(40)]
        assert 204 in statuses
        assert statuses[-1] == 413  # 40 x 60 KiB is over the 1 MiB total
        first_refused = statuses.index(413)
        assert all(s == 413 for s in statuses[first_refused:])

        with grpc.insecure_channel(sc.grpc_target) as channel:
            stub = dapr_pb2_grpc.DaprStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.SetMetadata(
                    metadata_pb2.SetMetadataRequest(key="more", value="x" * (64 * 1024 + 1)),
                    timeout=10,
                )
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            # an existing attribute can still be replaced by a smaller value
            stub.SetMetadata(metadata_pb2.SetMetadataRequest(key="attr0", value="small"))
            resp = stub.GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=10)
        assert resp.extended_metadata["attr0"] == "small"
        assert sc.request("GET", "/v1.0/metadata").status == 200


def test_grpc_connection_without_a_handshake_is_closed(tmp_path: Path) -> None:
    """A TCP connection to the gRPC port that never completes the HTTP/2 handshake is closed
    (after the server's 10 s handshake timeout), while a real client keeps working."""
    with Sidecar.start(tmp_path, components=STORE) as sc:
        silent = socket.create_connection(("127.0.0.1", sc.grpc_port), timeout=5)
        assert wait_until(lambda: is_closed(silent), 20, interval=0.2)
        silent.close()
        with grpc.insecure_channel(sc.grpc_target) as channel:
            stub = dapr_pb2_grpc.DaprStub(channel)
            assert stub.GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=10).id
