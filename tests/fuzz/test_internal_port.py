"""The sidecar-to-sidecar port under hostile bytes, seeded (``TANDEM_FUZZ_SEED``) and bounded
(``TANDEM_FUZZ_BUDGET``).

Without mTLS, raw HTTP/1.1 is written to the internal port over fresh sockets: invocation
requests with hostile paths, headers and bodies, then broken framing (bad or duplicate
``Content-Length``, bad chunked encoding, oversized and NUL-laden header lines, invalid UTF-8,
request lines that are not HTTP, random bytes) and junk on gRPC proxying's tunnel prefix. Each
answer, if any, must be below 500 (the echo app answers 2xx/4xx; nothing here is the callee's
fault). With mTLS on, plaintext and random bytes must be refused at the handshake. Afterwards the
sidecar still serves a normal call, its log holds no traceback, and its RSS stayed bounded.
"""

from __future__ import annotations

import contextlib
import random
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from runtime.internal import wire
from tests.fuzz.conftest import budget, seed
from tests.fuzz.test_fuzz import rss
from tests.integration.harness import Sidecar, free_port

pytestmark = pytest.mark.integration

ECHO_APP = Path(__file__).resolve().parents[1] / "integration" / "invoke" / "echo_app.py"
TUNNEL = "/v1.0/internal/grpc/"
_IDLE = 2.0  # seconds of silence after which a connection is given up
_MiB = 1 << 20


@contextlib.contextmanager
def _callee(tmp: Path, *args: str) -> Iterator[tuple[Sidecar, int]]:
    """The echo app (its own process: its log is not the sidecar's) and the callee sidecar."""
    internal, app_port = free_port(), free_port()
    app = subprocess.Popen(
        [sys.executable, str(ECHO_APP), str(app_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Sidecar.start(
            tmp,
            app_id="callee",
            empty_resources=True,
            args=["--app-port", str(app_port), "--dapr-internal-grpc-port", str(internal), *args],
        ) as sidecar:
            sidecar.wait_ready()
            yield sidecar, internal
    finally:
        app.kill()
        app.wait()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sidecar, int]]:
    with _callee(tmp_path_factory.mktemp("internal-plain"), "--enable-mtls=false") as pair:
        yield pair


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sidecar, int, Sidecar]]:
    """The callee, its internal port, and a caller sidecar (same home: same CA and registry)."""
    tmp = tmp_path_factory.mktemp("internal-mtls")
    with (
        _callee(tmp) as (sidecar, port),
        Sidecar.start(tmp, app_id="caller", empty_resources=True) as caller,
    ):
        yield sidecar, port, caller


def _exchange(port: int, data: bytes) -> bytes:
    """Writes ``data``, reads until the peer closes or stays silent for ``_IDLE`` seconds (it
    may rightly wait for the rest of an incomplete request); what it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=_IDLE) as sock:
        parts: list[bytes] = []
        try:
            sock.sendall(data)
            while chunk := sock.recv(65536):
                parts.append(chunk)
        except TimeoutError:
            pass  # silent: waiting for more of the request, or keeping the connection alive
        except OSError:  # reset: the server closed first (e.g. a header line too long)
            pass
        return b"".join(parts)


def _statuses(answer: bytes) -> list[int]:
    """The status code of each response in ``answer`` (pipelined requests get several)."""
    codes = []
    for line in answer.split(b"\r\n"):
        if line.startswith(b"HTTP/1.") and len(line) >= 12 and line[9:12].isdigit():
            codes.append(int(line[9:12]))
    return codes


def _text(rng: random.Random, size: int) -> str:
    alphabet = "abcXYZ019-._~%/?#[]@!$&'()*+,;= \t\"\\é\u2028\x00\x7f"
    return "".join(rng.choice(alphabet) for _ in range(size))


def _junk(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _request(
    method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> bytes:
    head = b"%s %s HTTP/1.1\r\nHost: callee\r\n" % (method.encode(), target)
    head += b"".join(b"%s: %s\r\n" % (n, v) for n, v in headers)
    return head + b"\r\n" + body


def _invoke(rng: random.Random) -> bytes:
    """A well-framed invocation with hostile contents."""
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FOO"])
    path = rng.choice(
        [
            "echo/" + _text(rng, rng.randrange(1, 40)),
            "echo/%2e%2e/%2e%2e/etc/passwd",
            "echo//a/./b/../../..",
            "status/" + str(rng.choice([200, 204, 404, 418, 301])),
            _text(rng, rng.randrange(0, 60)),
            "echo/" + "a" * rng.choice([100, 4000]),
        ]
    )
    if rng.random() < 0.8:  # mostly well-formed targets, so most calls reach the app
        path = quote(path, safe="/%")
    target = (wire.PATH_PREFIX + path).encode("utf-8", "surrogateescape").replace(b" ", b"%20")
    target = target.replace(b"\r", b"").replace(b"\n", b"")
    if rng.random() < 0.3:
        target += b"?" + _junk(rng, 10).replace(b" ", b"").replace(b"\r", b"").replace(b"\n", b"")
    headers: list[tuple[bytes, bytes]] = []
    printable = string.printable[:94]  # visible ASCII
    for _ in range(rng.randrange(0, 6)):
        name = rng.choice(
            [
                wire.VERB,
                wire.DATA_TYPE,
                wire.CALLER_APP_ID,
                wire.CALLER_NAMESPACE,
                wire.CALLEE_APP_ID,
                "content-type",
                "traceparent",
                "x-" + "".join(rng.choice(string.ascii_lowercase) for _ in range(5)),
            ]
        )
        r = rng.random()
        if r < 0.7:  # a valid value, often one a sidecar would not send
            value = rng.choice([wire.VERB_NONE, "GET", "BREW", "", "a" * 1000]) if r < 0.2 else ""
            value = value or "".join(rng.choice(printable) for _ in range(rng.randrange(50)))
            raw = value.encode()
        elif r < 0.85:
            raw = b"\xff\xfe" + _junk(rng, 4).translate(None, b"\r\n\x00")  # obs-text
        else:
            raw = _text(rng, rng.randrange(0, 50)).encode("utf-8").translate(None, b"\r\n")
        headers.append((name.encode(), raw))
    body = _junk(rng, rng.choice([0, 1, 100, 70_000])) if method != "GET" else b""
    headers.append((b"Content-Length", str(len(body)).encode()))
    headers.append((b"Connection", b"close"))
    return _request(method, target, headers, body)


def _broken(rng: random.Random) -> bytes:
    """Framing that is not HTTP/1.1, or only nearly."""
    target = (wire.PATH_PREFIX + "echo/x").encode()
    cases: list[Callable[[], bytes]] = [
        lambda: _request("POST", target, [(b"Content-Length", b"-1")], b"abc"),
        lambda: _request("POST", target, [(b"Content-Length", b"12abc")], b"abc"),
        lambda: _request("POST", target, [(b"Content-Length", b"99999999999999999999999")]),
        lambda: _request("POST", target, [(b"Content-Length", b"3"), (b"Content-Length", b"4")]),
        lambda: _request(
            "POST",
            target,
            [(b"Content-Length", b"3"), (b"Transfer-Encoding", b"chunked")],
            b"3\r\nabc\r\n0\r\n\r\n",
        ),
        lambda: _request("POST", target, [(b"Transfer-Encoding", b"chunked")], b"zz\r\nabc\r\n"),
        lambda: _request("POST", target, [(b"Transfer-Encoding", b"chunked")], b"5\r\nab"),
        lambda: _request(
            "POST", target, [(b"Transfer-Encoding", b"chunked")], b"3\r\nabcXX0\r\n\r\n"
        ),
        lambda: _request("POST", target, [(b"Transfer-Encoding", b"gzip, chunked, identity")]),
        lambda: _request("GET", target, [(b"X-Big", b"a" * _MiB)]),
        lambda: _request("GET", target, [(b"X-%d" % i, b"v") for i in range(5000)]),
        lambda: _request("GET", target, [(b"X-Nul", b"a\x00b")]),
        lambda: _request("GET", target + b"\x00\xff", []),
        lambda: _request("GET", b"http://evil/" + target, [(b"Connection", b"close")]),
        lambda: _request("GET", b"*", []),
        lambda: b"GET " + target + b"\r\n\r\n",  # HTTP/0.9
        lambda: b"GET " + target + b" HTTP/9.9\r\n\r\n",
        lambda: b"\r\n\r\n\r\n" + _request("GET", target, [(b"Connection", b"close")]),
        lambda: _request("GET", target, [(b"Bad Header", b"x")]),
        lambda: _request("GET", target, [(b"Expect", b"100-continue"), (b"Connection", b"close")]),
        lambda: _request(
            "POST",
            target,
            [(b"Expect", b"teapot"), (b"Content-Length", b"1"), (b"Connection", b"close")],
            b"a",
        ),
        lambda: _request("GET", target, [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")]),
        lambda: (
            _request("GET", target, [])  # pipelined
            + _request("GET", target, [])
            + _request("GET", target, [(b"Connection", b"close")])
        ),
        lambda: (
            _request("POST", TUNNEL.encode() + b"x.Y/Z", [(b"Content-Length", b"9")])
            + _junk(rng, 9)
        ),
        lambda: _request("GET", TUNNEL.encode() + b"x.Y/Z", [(b"Connection", b"close")]),
        lambda: _request("GET", b"/other/" + _junk(rng, 5).replace(b" ", b"_"), []),
        lambda: _junk(rng, rng.randrange(1, 2000)),
        lambda: b"GET " + _junk(rng, 300),
    ]
    return rng.choice(cases)()


def test_the_plaintext_internal_port_survives_hostile_http(plain: tuple[Sidecar, int]) -> None:
    sidecar, port = plain
    rng = random.Random(seed())
    before = rss(sidecar.proc.pid)
    deadline = time.monotonic() + budget()
    sent = 0
    server_errors: list[str] = []
    while time.monotonic() < deadline or sent < 60:
        data = _invoke(rng) if rng.random() < 0.5 else _broken(rng)
        codes = _statuses(_exchange(port, data))
        if any(code >= 500 for code in codes):
            server_errors.append(f"{codes}: {data[:200]!r}")
        sent += 1
    assert sidecar.proc.poll() is None, sidecar.logs()
    assert not server_errors, "\n".join(server_errors[:10])
    answer = _exchange(
        port, _request("GET", (wire.PATH_PREFIX + "echo/ok").encode(), [(b"Connection", b"close")])
    )
    assert _statuses(answer) == [200], answer[:300]
    logs = sidecar.logs()
    assert "Traceback" not in logs, logs[-3000:]
    assert "unexpected error" not in logs.lower(), logs[-3000:]
    assert rss(sidecar.proc.pid) - before < 60 * _MiB


def test_the_mtls_internal_port_refuses_plaintext_and_junk(
    mtls: tuple[Sidecar, int, Sidecar],
) -> None:
    sidecar, port, caller = mtls
    rng = random.Random(seed())
    for _ in range(40):
        data = _invoke(rng) if rng.random() < 0.5 else _junk(rng, rng.randrange(1, 3000))
        answer = _exchange(port, data)
        assert not answer.startswith(b"HTTP/"), answer[:200]  # no HTTP without a handshake
    assert sidecar.proc.poll() is None, sidecar.logs()
    assert sidecar.wait_for_log("refused a TLS connection"), sidecar.logs()
    logs = sidecar.logs()
    assert "Traceback" not in logs, logs[-3000:]
    # and the port still serves a real peer: the caller sidecar's call goes through it
    assert caller.request("GET", "/v1.0/invoke/callee/method/echo/ok").status == 200
