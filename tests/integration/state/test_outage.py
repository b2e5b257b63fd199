"""Backend outages through a running sidecar: fail with an error, stay up, serve again.

The stopped and paused servers are private ones on free ports (``tests.brokers.private``),
never the shared servers; the locked table is on the shared PostgreSQL, in a table of the
test's own. Each test starts its own sidecar with short component timeouts,
checks that requests fail with ERR_STATE_GET / ERR_STATE_SAVE (HTTP 500) rather than hang (the
clients' deadline, ``HANG_LIMIT``, is a hang detector far above the timeouts), that the sidecar
process lives on and ``/v1.0/healthz/outbound`` still answers, then restarts the server and
checks that the sidecar serves again (polled with a deadline). Two further tests make the
server unresponsive instead of absent (Redis CLIENT PAUSE, a PostgreSQL table lock): requests
must fail, not wait the outage out.

How fast requests fail and how soon the sidecar serves again are measured by
``bench/outage.py`` (figures, never assertions).
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from tests.brokers.private import PrivateServer, private_postgres, private_redis
from tests.integration.harness import wait_until
from tests.integration.state._grpc import Grpc, fail, item
from tests.integration.state._support import (
    PSQL,
    PostgresBackend,
    Resp,
    StateEnv,
    start_env,
)
from tests.servers import require_server

pytestmark = pytest.mark.integration

REDIS_TIMEOUT = 2.0
POSTGRES_TIMEOUT = 3.0
REDIS_METADATA = {
    "dialTimeout": f"{REDIS_TIMEOUT:g}s",
    "readTimeout": f"{REDIS_TIMEOUT:g}s",
    "writeTimeout": f"{REDIS_TIMEOUT:g}s",
}
POSTGRES_METADATA = {"timeout": f"{POSTGRES_TIMEOUT:g}s"}
# The clients' deadline: a hang detector, not a speed. Each outage outlasts it or the
# component's timeout (a paused server: 4.5 s; a locked table: 60 s), so a request that waits
# the outage out instead of failing ends in a success or a client timeout, not the error.
HANG_LIMIT = 30.0
PAUSE_MS = 4500


def _run(cmd: list[str], timeout: float = 60.0) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert out.returncode == 0, f"{cmd}: {out.stdout}{out.stderr}"


def _redis_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _postgres_ready(port: int = 5432) -> bool:
    out = subprocess.run(
        ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "1"], check=False, timeout=10
    )
    return out.returncode == 0


@contextmanager
def _sidecar(kind: str, tmp: Path, metadata: dict[str, str]) -> Iterator[StateEnv]:
    with start_env(kind, tmp, with_variants=False, metadata=metadata) as env:
        env.http.timeout = 30.0
        yield env


@contextmanager
def _redis_sidecar(tmp: Path) -> Iterator[tuple[PrivateServer, StateEnv]]:
    """A private redis-server and a sidecar whose store uses it."""
    require_server("redis")
    with private_redis(tmp / "redis") as server:
        metadata = {**REDIS_METADATA, "redisHost": f"127.0.0.1:{server.port}"}
        with _sidecar("redis", tmp, metadata) as env:
            yield server, env


def _redis_cli(server: PrivateServer, *args: str) -> None:
    _run(["redis-cli", "-p", str(server.port), *args])


def _assert_fails(env: StateEnv, key: str, *, every_op: bool = False) -> None:
    """GET and SAVE fail with 500 ERR_STATE_GET / ERR_STATE_SAVE.

    A request still pending after ``HANG_LIMIT`` fails the test (HTTP: the socket times out;
    gRPC: DEADLINE_EXCEEDED instead of INTERNAL). ``every_op``: so do delete, bulk get,
    transaction, key listing and query (each with its own code), and GetState / SaveState over
    gRPC (INTERNAL with the same ErrorInfo).
    """
    store = env.store
    calls: list[tuple[str, Callable[[], Resp]]] = [
        ("ERR_STATE_GET", lambda: env.http.get(store, key)),
        ("ERR_STATE_SAVE", lambda: env.http.save(store, [{"key": key, "value": "down"}])),
    ]
    if every_op:
        tx = {"operations": [{"operation": "upsert", "request": {"key": key, "value": 1}}]}
        calls += [
            ("ERR_STATE_DELETE", lambda: env.http.delete(store, key)),
            ("ERR_STATE_BULK_GET", lambda: env.http.bulk(store, [key, key + "2"])),
            ("ERR_STATE_TRANSACTION", lambda: env.http.transact(store, tx)),
            ("ERR_STATE_LIST_KEYS", lambda: env.http.list_keys(store)),
        ]
        if env.has("QUERY_API"):
            calls.append(("ERR_STATE_QUERY", lambda: env.http.query(store, {})))
    env.http.timeout = HANG_LIMIT
    try:
        for code, call in calls:
            r = call()
            assert (r.status, r.error_code) == (500, code), r
    finally:
        env.http.timeout = 30.0
    if every_op:
        rpc = Grpc(env.grpc_target, timeout=HANG_LIMIT)
        try:
            for code, fn in (
                ("ERR_STATE_GET", lambda: rpc.get(store, key)),
                ("ERR_STATE_SAVE", lambda: rpc.save(store, item(key, b"down"))),
            ):
                f = fail(fn)
                assert (f.code, f.error_code) == (grpc.StatusCode.INTERNAL, code), f
        finally:
            rpc.close()


def _assert_alive(env: StateEnv) -> None:
    assert env.sidecar.proc.poll() is None, env.sidecar.logs()
    assert env.http.request("GET", "/v1.0/healthz/outbound", timeout=2).status == 204
    assert env.http.request("GET", "/v1.0/healthz", timeout=2).status == 204


def _assert_recovers(env: StateEnv, key: str, ready: Callable[[], bool]) -> None:
    """The server answers again (``ready``), then so does the sidecar for ``key``."""
    assert wait_until(ready, timeout=30.0, interval=0.01), "the server did not come back"

    def served() -> bool:
        return env.http.get(env.store, key, timeout=10).status in (200, 204)

    assert wait_until(served, timeout=15.0, interval=0.01), "the sidecar did not serve again"


@pytest.mark.redis  # the harness's clean-up scans the shared server
def test_redis_stopped_and_restarted(tmp_path: Path) -> None:
    with _redis_sidecar(tmp_path) as (server, env):
        k = env.key()
        assert env.http.save(env.store, [{"key": k, "value": "before"}]).status == 204
        server.stop()
        _assert_fails(env, k, every_op=True)
        _assert_alive(env)
        server.start()
        _assert_recovers(env, k, lambda: _redis_ready(server.port))
        assert env.http.save(env.store, [{"key": k, "value": "after"}]).status == 204
        assert env.http.get(env.store, k).body == b'"after"'


@pytest.mark.postgres  # the harness's clean-up drops the tables on the shared server
def test_postgres_stopped_and_restarted(tmp_path: Path) -> None:
    require_server("postgres")
    with private_postgres(tmp_path / "postgres") as server:
        dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres"
        metadata = {**POSTGRES_METADATA, "connectionString": dsn}
        with _sidecar("postgresql", tmp_path, metadata) as env:
            k = env.key()
            assert env.http.save(env.store, [{"key": k, "value": "before"}]).status == 204
            server.stop()
            _assert_fails(env, k, every_op=True)
            _assert_alive(env)
            server.start()
            _assert_recovers(env, k, lambda: _postgres_ready(server.port))
            assert env.http.get(env.store, k).body == b'"before"'  # PostgreSQL keeps its data
            assert env.http.save(env.store, [{"key": k, "value": "after"}]).status == 204
            assert env.http.get(env.store, k).body == b'"after"'


@pytest.mark.redis  # the harness's clean-up scans the shared server
def test_redis_unresponsive(tmp_path: Path) -> None:
    """A server that accepts but does not answer (CLIENT PAUSE) fails the request: it does not
    wait the pause out."""
    with _redis_sidecar(tmp_path) as (server, env):
        k = env.key()
        assert env.http.save(env.store, [{"key": k, "value": "v"}]).status == 204
        _redis_cli(server, "client", "pause", str(PAUSE_MS), "ALL")
        try:
            r = env.http.get(env.store, k, timeout=HANG_LIMIT)
            assert (r.status, r.error_code) == (500, "ERR_STATE_GET"), r
            _assert_alive(env)
        finally:
            _redis_cli(server, "client", "unpause")
        _assert_recovers(env, k, lambda: _redis_ready(server.port))
        assert env.http.get(env.store, k).body == b'"v"'


@pytest.mark.postgres
def test_postgres_locked_table_times_out(tmp_path: Path) -> None:
    """A statement blocked by a lock fails after ``timeout`` instead of waiting for it."""
    require_server("postgres")
    with _sidecar("postgresql", tmp_path, POSTGRES_METADATA) as env:
        k = env.key()
        assert env.http.save(env.store, [{"key": k, "value": "v"}]).status == 204
        backend = env.backend
        assert isinstance(backend, PostgresBackend)
        table = backend.table
        app = f"locker_{env.app_id}"
        locker = subprocess.Popen(
            [
                *PSQL,
                "-c",
                f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);",
            ],
            env={**os.environ, "PGAPPNAME": app},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            held = (
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                f"WHERE a.application_name = '{app}' AND l.mode = 'AccessExclusiveLock' "
                "AND l.granted"
            )
            assert wait_until(lambda: backend.psql(held).strip() == "1", timeout=10.0)
            _assert_fails(env, k)
            _assert_alive(env)
        finally:
            backend.psql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE application_name = '{app}'"
            )
            locker.wait(timeout=10)
        _assert_recovers(env, k, _postgres_ready)
        assert env.http.get(env.store, k).body == b'"v"'
