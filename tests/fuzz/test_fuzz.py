"""Fuzz every HTTP route and every gRPC RPC of a real sidecar, per state backend.

For each backend (SQLite, Redis, PostgreSQL) one ``tandem`` process (with an API token) gets
seeded random requests for ``TANDEM_FUZZ_BUDGET`` seconds per protocol, round-robin over every
route and RPC the sidecar serves (read from its router and service descriptors, see ``_http`` /
``_grpc``). A client's mistake must never be a server error:

- HTTP: no 5xx except Dapr's documented ones in ``ALLOWED_5XX``; a missing or wrong token is 401;
- gRPC: never INTERNAL, UNKNOWN or DATA_LOSS, or a status the client cannot read; a wrong
  token is UNAUTHENTICATED;
- afterwards the sidecar still serves, its log holds no traceback and no "unexpected error",
  and its RSS stayed bounded; every route and RPC was exercised;
- the shutdown route and RPC, last: with a bad token they are refused, then one ends the process.

The inputs include a non-UTF-8 ``dapr-api-token`` header (HTTP) and undecodable protobuf bytes
(gRPC); ``test_bad_token_and_bytes.py`` also sends each to every route and RPC.
"""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.client import InvalidURL
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.fuzz import _grpc, _http
from tests.fuzz._stats import STATS, record, record_rss
from tests.fuzz._values import STORE, Values
from tests.fuzz.conftest import budget, seed
from tests.integration.harness import Sidecar
from tests.integration.state._support import Backend, make_backend
from tests.servers import SERVERS, unique

pytestmark = pytest.mark.integration

# Dapr's documented 500s, which are not client mistakes (reference dapr-api.md a.0 / a.2):
ALLOWED_5XX = {
    # the store lacks the feature (Redis without RediSearch has no query API)
    (500, "ERR_STATE_STORE_NOT_SUPPORTED"),
    # /v1.0/healthz?appid=<another app>: Dapr answers 500
    (500, "ERR_HEALTH_APPID_NOT_MATCH"),
    # configuration calls on a sidecar without configuration stores / without an app (a.0, a.5)
    (500, "ERR_CONFIGURATION_STORE_NOT_CONFIGURED"),
    (500, "ERR_APP_CHANNEL_NIL"),
}
# ... and a store call failing during a backend outage (Dapr: 500 with the operation's code)
STORE_ERRORS = {
    "ERR_STATE_GET",
    "ERR_STATE_BULK_GET",
    "ERR_STATE_SAVE",
    "ERR_STATE_DELETE",
    "ERR_STATE_TRANSACTION",
    "ERR_STATE_QUERY",
    "ERR_STATE_LIST_KEYS",
}
OUTAGE_MARKERS = (
    "Connection refused",
    "Connection reset",
    "shutting down",
    "starting up",
    "cannot connect now",
    "timed out",
)
SERVER_OF = {"redis": "redis", "postgresql": "postgres"}
# gRPC: Dapr's documented INTERNAL answers that are not client mistakes (ErrorInfo reasons)
ALLOWED_INTERNAL = {"DAPR_STATE_QUERYING_NOT_SUPPORTED"}  # as in Dapr: Internal
SERVER_ERRORS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
EXEMPT_FROM_TOKEN = {"/v1.0/healthz", "/v1.0/healthz/outbound"}
MAX_BODY = 1 << 20
MAX_LINE = 8000  # aiohttp refuses a request line or header longer than 8190 bytes
RSS_GROWTH_LIMIT = 256 << 20  # bytes
KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@dataclass
class FuzzEnv:
    kind: str
    backend: Backend
    sidecar: Sidecar
    token: str
    seed: int
    rss_start: int
    failures: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        if len(self.failures) < 25:
            self.failures.append(what)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture(scope="module", params=KINDS)
def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzEnv]:
    kind: str = request.param
    tmp = tmp_path_factory.mktemp(f"fuzz-{kind}")
    run = unique("fz")
    backend = make_backend(kind, run, tmp)
    token = uuid.uuid4().hex
    args = ["--max-body-size", str(MAX_BODY)]
    environ = {"DAPR_API_TOKEN": token}
    try:
        with Sidecar.start(
            tmp, components=[backend.component(STORE)], app_id=run, args=args, env=environ
        ) as sc:
            yield FuzzEnv(kind, backend, sc, token, seed(), rss(sc.proc.pid))
    finally:
        backend.cleanup()


def _run_for(seconds: float, step: Callable[[int], None]) -> int:
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        step(i)
        i += 1
    return i


# ---- HTTP ------------------------------------------------------------------------------------


def _error_code(body: bytes) -> str:
    import json

    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(body).get("errorCode", ""))
    return ""


def _oversized(req: _http.HttpRequest) -> bool:
    """Past the server's limits on the body (413) or the request line / a header (400)."""
    too_long = len(req.path) > MAX_LINE or any(len(v) > MAX_LINE for v in req.headers.values())
    return len(req.body or b"") > MAX_BODY or too_long


def _outage(kind: str, body: bytes) -> bool:
    """A 5xx that a backend outage explains: the server is unreachable or says it is going away.

    (Other engineers' disruptive tests restart the shared servers; Dapr answers 500 then too.)
    """
    text = body.decode("utf-8", "replace")
    if any(marker in text for marker in OUTAGE_MARKERS):
        return True
    host, port = SERVERS.get(SERVER_OF.get(kind, ""), ("", 0))
    if not port:
        return False
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.mark.timeout(budget() + 120)
def test_http_fuzz(env: FuzzEnv) -> None:
    env.failures.clear()
    routes = [r for r in _http.routes() if (r.method, r.template) != _http.SHUTDOWN]
    v = Values(__import__("random").Random(env.seed))
    client = _http.Http(env.sidecar.http_port)
    name = env.kind, "http"

    def step(i: int) -> None:
        route = routes[i % len(routes)]
        req = _http.generate(v, route, env.token, bad_token_bytes=True)
        try:
            status, body = client.send(req)
        except (ValueError, UnicodeError, InvalidURL):  # http.client refuses to send it
            record(*name, route.name, "skipped")
            return
        except OSError as exc:
            client.close()
            if _oversized(req):  # refused (413, 400) and closed while the client still sends
                record(*name, route.name, "client_errors")
                return
            env.fail(f"[seed {env.seed}] {req.describe()} -> connection error {exc!r}")
            record(*name, route.name, "server_errors")
            return
        if status >= 500:
            if req.method == "HEAD":  # no body: ask again with GET for the error code
                req.method = "GET"
                body = client.send(req)[1]
                req.method = "HEAD"
            code = _error_code(body)
            if (status, code) in ALLOWED_5XX or (code in STORE_ERRORS and _outage(env.kind, body)):
                record(*name, route.name, "allowed_5xx")
            else:
                record(*name, route.name, "server_errors")
                env.fail(f"[seed {env.seed}] {req.describe()} -> {status} {body[:300]!r}")
            return
        record(*name, route.name, "ok" if status < 300 else "client_errors")
        # a bad token gets 401, or a 400 from the HTTP parser before any handler ran
        refused = status == 401 or (status == 400 and not _error_code(body))
        if not req.good_token and route.template not in EXEMPT_FROM_TOKEN and not refused:
            env.fail(f"[seed {env.seed}] bad token accepted: {req.describe()} -> {status}")

    try:
        _run_for(budget(), step)
    finally:
        client.close()
    covered = {r for r, s in STATS[name].items() if s.requests}
    missing = sorted({r.name for r in routes} - covered)
    assert not missing, f"routes never fuzzed: {missing}"
    assert not env.failures, "\n".join(env.failures)


# ---- gRPC ------------------------------------------------------------------------------------


def _call(
    channel: grpc.Channel, rpc: _grpc.Rpc, data: bytes, token: str | None
) -> tuple[grpc.StatusCode, str]:
    """(status code, "<ErrorInfo reason> <message>"); the reason is empty when the status
    carries no ErrorInfo (then it was not made by the sidecar's error mapping)."""
    call = channel.unary_unary(
        rpc.path, request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    metadata = () if token is None else (("dapr-api-token", token),)
    try:
        call(data, metadata=metadata, timeout=30)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code, f"{_reason(exc)} {exc.details()}"
    return grpc.StatusCode.OK, ""


def _reason(exc: grpc.RpcError) -> str:
    status = rpc_status.from_call(cast(Any, exc))
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


@pytest.mark.timeout(budget() + 120)
def test_grpc_fuzz(env: FuzzEnv) -> None:
    env.failures.clear()
    rpcs = [r for r in _grpc.rpcs() if r.path != _grpc.SHUTDOWN]
    v = Values(__import__("random").Random(env.seed + 1))
    name = env.kind, "grpc"
    options = [("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(env.sidecar.grpc_target, options=options) as channel:

        def step(i: int) -> None:
            rpc = rpcs[i % len(rpcs)]
            data = _grpc.payload(v, _grpc.message(v, rpc))
            decodable = _grpc.decodable(rpc, data)
            r = v.rng.random()
            token = env.token if r < 0.85 else (None if r < 0.9 else v.string(long=False))
            good_token = token == env.token
            if token and not (token.isascii() and token.isprintable() and token == token.strip()):
                token = "bad"  # gRPC metadata values are visible ASCII
            code, details = _call(channel, rpc, data, token)
            what = f"[seed {env.seed}] {rpc.path} {data[:200]!r} token={token!r} -> {code}"
            what += f" {details[:200]!r}"
            reason = details.split(" ", 1)[0]
            # RESOURCE_EXHAUSTED: the sidecar's own 413 (it has an ErrorInfo), or a request
            # past the size limit; else the client could not read the status (too large)
            too_big = code == grpc.StatusCode.RESOURCE_EXHAUSTED and (
                bool(reason) or len(data) > MAX_BODY
            )
            if code == grpc.StatusCode.INTERNAL and (
                reason in ALLOWED_INTERNAL or _outage(env.kind, details.encode())
            ):
                record(*name, rpc.path, "allowed_5xx")
                return
            if not too_big and code in SERVER_ERRORS | {
                grpc.StatusCode.DEADLINE_EXCEEDED,  # a hang
                grpc.StatusCode.UNAVAILABLE,  # the sidecar went away
                grpc.StatusCode.RESOURCE_EXHAUSTED,  # e.g. a status too large for the client
            }:
                record(*name, rpc.path, "server_errors")
                env.fail(what)
                return
            record(*name, rpc.path, "ok" if code == grpc.StatusCode.OK else "client_errors")
            # a bad token is refused, unless the request was refused first (unreadable, too big)
            refused = code == grpc.StatusCode.UNAUTHENTICATED or too_big or not decodable
            if not good_token and not refused:
                env.fail(f"bad token accepted: {what}")

        _run_for(budget(), step)
    covered = {r for r, s in STATS[name].items() if s.requests}
    missing = sorted({r.path for r in rpcs} - covered)
    assert not missing, f"RPCs never fuzzed: {missing}"
    assert not env.failures, "\n".join(env.failures)


# ---- afterwards ------------------------------------------------------------------------------


def test_sidecar_is_healthy_after_the_fuzz(env: FuzzEnv) -> None:
    sc = env.sidecar
    assert sc.proc.poll() is None, sc.logs()[-5000:]
    headers = {"dapr-api-token": env.token, "Content-Type": "application/json"}
    saved = sc.request("POST", f"/v1.0/state/{STORE}", '[{"key": "alive", "value": 1}]', headers)
    assert saved.status == 204, saved.text
    assert sc.request("GET", f"/v1.0/state/{STORE}/alive", headers=headers).body == b"1"
    logs = sc.logs()
    assert "Traceback" not in logs, logs[-20_000:]
    assert "unexpected error" not in logs, logs[-20_000:]
    now = rss(sc.proc.pid)
    record_rss(env.kind, env.rss_start, now)
    grown = now - env.rss_start
    assert grown < RSS_GROWTH_LIMIT, f"RSS grew by {grown >> 20} MiB during the fuzz"


def test_shutdown_refuses_bad_tokens_then_stops(env: FuzzEnv) -> None:
    sc = env.sidecar
    v = Values(__import__("random").Random(env.seed + 2))
    shutdown = next(r for r in _http.routes() if (r.method, r.template) == _http.SHUTDOWN)
    for _ in range(20):
        req = _http.generate(v, shutdown, env.token, bad_token_bytes=True)
        req.headers["dapr-api-token"] = v.rng.choice(["", "x", env.token + "x"])
        resp = sc.request(req.method, req.path, req.body, req.headers)
        record(env.kind, "http", shutdown.name, "client_errors")
        # 401, or a 400 from the HTTP parser before any handler ran (e.g. a line too long)
        assert resp.status == 401 or (resp.status == 400 and not _error_code(resp.body))
        assert sc.proc.poll() is None, req.describe()
    rpc = next(r for r in _grpc.rpcs() if r.path == _grpc.SHUTDOWN)
    with grpc.insecure_channel(sc.grpc_target) as channel:
        for _ in range(20):
            data = _grpc.payload(v, _grpc.message(v, rpc))
            decodable = _grpc.decodable(rpc, data)
            code, _ = _call(channel, rpc, data, "wrong")
            record(env.kind, "grpc", rpc.path, "client_errors")
            # refused for the token, or (read first) for bytes that are no message at all
            refused = {grpc.StatusCode.UNAUTHENTICATED}
            if not decodable:
                refused.add(grpc.StatusCode.INVALID_ARGUMENT)
            assert code in refused, (data, code)
        assert sc.proc.poll() is None
        assert _call(channel, rpc, b"", env.token)[0] == grpc.StatusCode.OK
        record(env.kind, "grpc", rpc.path, "ok")
    assert sc.wait_exit() == 0, sc.logs()[-5000:]
    assert "Traceback" not in sc.logs()
