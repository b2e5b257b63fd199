"""HTTP service invocation through two real sidecars (alpha calls beta), and its faults.

Twin of ``test_grpc.py`` where both protocols can express the case (same names)."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any

import pytest

from tests.integration.harness import Sidecar, free_port, http_request, wait_until
from tests.integration.invoke.conftest import Mesh

pytestmark = pytest.mark.integration


def _echo(
    mesh: Mesh,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    r = mesh.alpha.request(method, path, body, headers)
    assert r.status == 200, r.text
    assert r.headers.get("x-echo") == "1"
    return r.json()


@pytest.mark.parametrize("verb", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_invoke_passes_verb_query_headers_and_body(mesh: Mesh, verb: str) -> None:
    body = b"payload" if verb not in ("GET", "OPTIONS") else None
    seen = _echo(
        mesh,
        verb,
        "/v1.0/invoke/beta/method/echo/a%20b/c?x=1&y=%2F&x=2",
        body,
        {"x-custom": "v", "Content-Type": "text/plain"},
    )
    assert seen["method"] == verb
    assert seen["path"] == "/echo/a%20b/c"
    assert seen["query"] == "x=1&y=%2F&x=2"
    assert seen["headers"]["x-custom"] == "v"
    assert seen["body"] == ("payload" if body else "")


def test_dapr_app_id_header_on_any_path(mesh: Mesh) -> None:
    seen = _echo(mesh, "POST", "/orders/42?full=1", b"{}", {"dapr-app-id": "beta"})
    assert seen["path"] == "/orders/42"
    assert seen["query"] == "full=1"
    assert "dapr-app-id" not in seen["headers"]


def test_callee_identity_headers_are_set_and_not_spoofable(mesh: Mesh) -> None:
    seen = _echo(
        mesh, "GET", "/v1.0/invoke/beta/method/echo", None, {"dapr-caller-app-id": "mallory"}
    )
    assert seen["headers"]["dapr-caller-app-id"] == "alpha"
    assert seen["headers"]["dapr-callee-app-id"] == "beta"


def test_hop_by_hop_and_token_headers_are_not_forwarded(mesh: Mesh) -> None:
    seen = _echo(
        mesh,
        "GET",
        "/v1.0/invoke/beta/method/echo",
        None,
        {"Proxy-Authorization": "secret", "dapr-api-token": "t", "Keep-Alive": "5"},
    )
    assert not {"proxy-authorization", "dapr-api-token", "keep-alive"} & set(seen["headers"])


def test_callee_status_headers_and_body_come_back_unchanged(mesh: Mesh) -> None:
    r = mesh.alpha.request("GET", "/v1.0/invoke/beta/method/status/418?key=teapot")
    assert r.status == 418
    assert r.text == "status 418"
    assert r.headers["x-attempt"] == "1"


def test_self_invocation_reaches_the_local_app(mesh: Mesh) -> None:
    seen = _echo(mesh, "GET", "/v1.0/invoke/alpha/method/echo/self")
    assert seen["headers"]["dapr-callee-app-id"] == "alpha"
    assert seen["headers"]["dapr-caller-app-id"] == "alpha"


def test_app_id_with_namespace_is_accepted(mesh: Mesh) -> None:
    # standalone sidecars live in the empty namespace: "beta." names it explicitly
    seen = _echo(mesh, "GET", "/v1.0/invoke/beta./method/echo/ns")
    assert seen["path"] == "/echo/ns"


def test_unknown_app_id_is_404_naming_it(mesh: Mesh) -> None:
    r = mesh.alpha.request("POST", "/v1.0/invoke/nosuchapp/method/x", b"{}")
    assert r.status == 404
    assert r.json()["errorCode"] == "ERR_DIRECT_INVOKE"
    assert "nosuchapp" in r.json()["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1.0/invoke/beta/method/echo/../../../etc/passwd",
        "/v1.0/invoke/beta/method/echo/%2e%2e/%2E%2E/%2e%2e/etc/passwd",
        "/v1.0/invoke/beta/method/./echo/./x/../../etc/passwd",
    ],
)
def test_path_traversal_is_normalised_and_never_escapes(mesh: Mesh, path: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", mesh.alpha.http_port, timeout=10)
    conn.request("GET", path)  # sent as is (no client-side normalisation)
    response = conn.getresponse()
    seen = json.loads(response.read())
    conn.close()
    assert response.status == 200
    assert seen["path"] == "/etc/passwd"


def test_server_sent_events_are_flushed_as_they_come(mesh: Mesh) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", mesh.alpha.http_port, timeout=10)
    conn.request("GET", "/v1.0/invoke/beta/method/sse")
    response = conn.getresponse()
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    first = response.read1(65536)  # returns with the first chunk that arrives
    assert b"data: first" in first  # arrived while the app still holds the second event
    released = http_request(mesh.alpha.http_port, "POST", "/v1.0/invoke/beta/method/sse/release")
    assert released.status == 200
    rest = response.read()
    conn.close()
    assert b"data: second" in rest


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_large_bodies_stream_through_two_sidecars_with_bounded_memory(mesh: Mesh) -> None:
    size = 256 << 20
    pids = (mesh.alpha.proc.pid, mesh.delta.proc.pid)  # delta: no timeout policy
    before = [_rss_kib(p) for p in pids]
    peak = list(before)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for i, p in enumerate(pids):
                peak[i] = max(peak[i], _rss_kib(p))
            done.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", mesh.alpha.http_port, timeout=60)
        conn.request("GET", f"/v1.0/invoke/delta/method/big?bytes={size}")
        response = conn.getresponse()
        received = 0
        while chunk := response.read(1 << 20):
            received += len(chunk)
        assert received == size

        def chunks() -> Any:
            for _ in range(size >> 20):
                yield b"u" * (1 << 20)

        conn.request("POST", "/v1.0/invoke/delta/method/upload", body=chunks(), encode_chunked=True)
        response = conn.getresponse()
        assert json.loads(response.read()) == {"received": size}
        conn.close()
    finally:
        done.set()
        sampler.join()
    growth_mib = [(p - b) / 1024 for p, b in zip(peak, before, strict=True)]
    assert max(growth_mib) < 64, growth_mib  # far below the 256 MiB that passed each way


def test_hanging_callee_is_cut_by_the_policy_timeout(mesh: Mesh) -> None:
    r = mesh.alpha.request("GET", "/v1.0/invoke/beta/method/hang", timeout=20)
    assert r.status == 500
    assert r.json()["errorCode"] == "ERR_DIRECT_INVOKE"
    assert "timed out" in r.json()["message"]


def test_idempotent_calls_are_retried_by_policy(mesh: Mesh) -> None:
    r = mesh.alpha.request("GET", "/v1.0/invoke/beta/method/status/503?key=get-retried")
    assert r.status == 503
    assert r.headers["x-attempt"] == "3"  # first try + maxRetries 2


def test_non_idempotent_calls_are_not_retried(mesh: Mesh) -> None:
    r = mesh.alpha.request("POST", "/v1.0/invoke/beta/method/status/503?key=post-once", b"x")
    assert r.status == 503
    assert r.headers["x-attempt"] == "1"


def test_a_policy_matching_the_status_retries_any_verb(mesh: Mesh) -> None:
    r = mesh.alpha.request("POST", "/v1.0/invoke/delta/method/status/503?key=matched", b"x")
    assert r.headers["x-attempt"] == "3"
    r = mesh.alpha.request("GET", "/v1.0/invoke/delta/method/status/500?key=unmatched")
    assert r.headers["x-attempt"] == "1"


def test_breaker_opens_on_failures_and_recovers(mesh: Mesh) -> None:
    for _ in range(3):
        r = mesh.alpha.request("GET", "/v1.0/invoke/epsilon/method/status/500?key=b")
        assert r.status == 500
    r = mesh.alpha.request("GET", "/v1.0/invoke/epsilon/method/echo")
    assert r.status == 500
    assert "circuit breaker is open" in r.json()["message"]

    def recovered() -> bool:
        return mesh.alpha.request("GET", "/v1.0/invoke/epsilon/method/echo").status == 200

    assert wait_until(recovered, timeout=10, interval=0.2)


def test_a_callee_whose_app_is_down_fails_fast_and_a_stopped_one_disappears(
    mesh: Mesh,
) -> None:
    dead_port = free_port()  # nothing listens there
    with Sidecar.start(mesh.tmp, app_id="zeta", args=["--app-port", str(dead_port)]):
        r = mesh.alpha.request("GET", "/v1.0/invoke/zeta/method/anything", timeout=10)
        assert r.status == 500
        assert r.json()["errorCode"] == "ERR_DIRECT_INVOKE"
    gone = mesh.alpha.request("GET", "/v1.0/invoke/zeta/method/anything", timeout=10)
    assert gone.status == 404
