"""Shared pieces of the state integration tests: backends, component YAML, an HTTP client.

Nothing here imports Tandem's generated protos or the ``dapr`` SDK (they cannot share a process,
see ``test_dapr_sdk``), so every test module may import this one.

A *backend* is one component kind (``in-memory``, ``sqlite``, ``redis``, ``postgresql``) with
its data location for one test run: it writes the component YAML of the sidecar under test and
can read the stored data directly (``stored_keys`` / ``raw_value``), bypassing Tandem, so tests
can check what really reached the server.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from tests.integration.harness import Sidecar
from tests.servers import require_server, unique

__all__ = [
    "EXPECTED_FEATURES",
    "KINDS",
    "MAX_BODY",
    "PREFIX_MODES",
    "PSQL",
    "Backend",
    "Http",
    "PostgresBackend",
    "RedisBackend",
    "Resp",
    "SqliteBackend",
    "StateEnv",
    "component_yaml",
    "make_backend",
    "parse_rfc3339",
    "query_cases",
    "query_rows",
    "start_env",
]

KINDS = ("in-memory", "sqlite", "redis", "postgresql")
_ALL = frozenset({"ETAG", "TRANSACTIONAL", "TTL", "QUERY_API", "LIST_KEYS"})
# What each kind declares (Redis without RediSearch cannot query).
EXPECTED_FEATURES = {
    "in-memory": _ALL,
    "sqlite": _ALL,
    "redis": _ALL - {"QUERY_API"},
    "postgresql": _ALL,
}
STORE = "statestore"
# keyPrefix mode -> the component name suffix of the variant store in every sidecar.
PREFIX_MODES = ("none", "name", "custom", "namespace")
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1"]


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def component_yaml(name: str, type_: str, metadata: Mapping[str, str]) -> str:
    lines = [
        "apiVersion: dapr.io/v1alpha1",
        "kind: Component",
        "metadata:",
        f"  name: {name}",
        "spec:",
        f"  type: {type_}",
        "  version: v1",
    ]
    if metadata:
        lines.append("  metadata:")
        for k, v in metadata.items():
            lines += [f"  - name: {k}", f"    value: {json.dumps(v)}"]
    return "\n".join(lines) + "\n"


# ---- backends ----------------------------------------------------------------------------


class Backend:
    """One component kind and where its data lives for one run (``run`` is unique)."""

    kind: str = ""
    type_: str = ""
    direct = False  # can the stored data be read without Tandem?

    def __init__(self, run: str, tmp: Path) -> None:
        self.run = run
        self.tmp = tmp

    def metadata(self, **extra: str) -> dict[str, str]:
        return dict(extra)

    def component(self, name: str, **extra: str) -> str:
        return component_yaml(name, self.type_, self.metadata(**extra))

    def stored_keys(self, contains: str) -> set[str]:
        """Every key in the backend whose text contains ``contains``."""
        raise NotImplementedError

    def raw_value(self, stored_key: str) -> bytes | None:
        raise NotImplementedError

    def cleanup(self) -> None:
        return None


class MemoryBackend(Backend):
    kind = "in-memory"
    type_ = "state.in-memory"


class SqliteBackend(Backend):
    kind = "sqlite"
    type_ = "state.sqlite"
    direct = True
    table = "state"

    @property
    def path(self) -> Path:
        return self.tmp / "state.db"

    def metadata(self, **extra: str) -> dict[str, str]:
        return {"connectionString": str(self.path), "tableName": self.table, **extra}

    def _rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path, timeout=10) as conn:
            return list(conn.execute(sql, args))

    def stored_keys(self, contains: str) -> set[str]:
        rows = self._rows(f"SELECT key FROM {self.table} WHERE instr(key, ?) > 0", contains)
        return {r[0] for r in rows}

    def raw_value(self, stored_key: str) -> bytes | None:
        rows = self._rows(f"SELECT value FROM {self.table} WHERE key = ?", stored_key)
        return bytes(rows[0][0]) if rows else None


class RedisBackend(Backend):
    kind = "redis"
    type_ = "state.redis"
    direct = True

    def __init__(self, run: str, tmp: Path) -> None:
        super().__init__(run, tmp)
        import redis

        self._client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5)

    def metadata(self, **extra: str) -> dict[str, str]:
        return {"redisHost": "127.0.0.1:6379", **extra}

    def stored_keys(self, contains: str) -> set[str]:
        pattern = f"*{contains}*"
        return {k.decode() for k in self._client.scan_iter(match=pattern, count=1000)}

    def raw_value(self, stored_key: str) -> bytes | None:
        value = self._client.hget(stored_key, "data")
        assert value is None or isinstance(value, bytes)
        return value

    def cleanup(self) -> None:
        try:
            keys = list(self._client.scan_iter(match=f"*{self.run}*", count=1000))
            if keys:
                self._client.delete(*keys)
        finally:
            self._client.close()


class PostgresBackend(Backend):
    kind = "postgresql"
    type_ = "state.postgresql"
    direct = True

    def __init__(self, run: str, tmp: Path) -> None:
        super().__init__(run, tmp)
        self.table = f"state_{run}"
        self.metadata_table = f"meta_{run}"

    def metadata(self, **extra: str) -> dict[str, str]:
        return {
            "connectionString": "host=127.0.0.1 user=postgres dbname=test",
            "tableName": self.table,
            "metadataTableName": self.metadata_table,
            **extra,
        }

    @staticmethod
    def psql(sql: str) -> str:
        out = subprocess.run(
            [*PSQL, "-At", "-c", sql], capture_output=True, text=True, timeout=30, check=False
        )
        if out.returncode != 0:
            raise AssertionError(f"psql failed: {out.stderr}")
        return out.stdout

    def stored_keys(self, contains: str) -> set[str]:
        # keys are written by the tests themselves: no quote in `contains`
        assert "'" not in contains
        out = self.psql(f"SELECT key FROM {self.table} WHERE strpos(key, '{contains}') > 0")
        return {line for line in out.splitlines() if line}

    def raw_value(self, stored_key: str) -> bytes | None:
        lit = stored_key.replace("'", "''")
        out = self.psql(f"SELECT encode(value, 'hex') FROM {self.table} WHERE key = '{lit}'")
        return bytes.fromhex(out.strip()) if out.strip() else None

    def cleanup(self) -> None:
        self.psql(f"DROP TABLE IF EXISTS {self.table}; DROP TABLE IF EXISTS {self.metadata_table}")


_BACKENDS: dict[str, type[Backend]] = {
    b.kind: b for b in (MemoryBackend, SqliteBackend, RedisBackend, PostgresBackend)
}
_SERVERS = {"redis": "redis", "postgresql": "postgres"}


def make_backend(kind: str, run: str, tmp: Path) -> Backend:
    """The backend of ``kind``; skips (or fails under CI) when its server is unreachable."""
    server = _SERVERS.get(kind)
    if server is not None:
        require_server(server)
    return _BACKENDS[kind](run, tmp)


# ---- HTTP --------------------------------------------------------------------------------


@dataclass
class Resp:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        try:
            doc = self.json()
        except ValueError:
            return None
        return doc.get("errorCode") if isinstance(doc, dict) else None

    @property
    def reasons(self) -> list[str]:
        """The ErrorInfo reasons in the error body's ``details``."""
        try:
            doc = self.json()
        except ValueError:
            return []
        if not isinstance(doc, dict):
            return []
        return [d.get("reason", "") for d in doc.get("details") or [] if "ErrorInfo" in d["@type"]]


class Http:
    """A small keep-alive HTTP client for one sidecar (sync, no third-party dependency)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | object = None,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Resp:
        if query:
            path = f"{path}?{urlencode(query)}"
        data: bytes | None
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=timeout or self.timeout
                )
            elif self._conn.sock is not None:
                self._conn.sock.settimeout(timeout or self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=hdrs)
                resp = self._conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
                continue
            except Exception:
                self.close()
                raise
            if resp.will_close:
                self.close()
            return Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
        raise AssertionError("unreachable")

    # Dapr state API shorthands; ``key`` is URL-quoted (slashes kept).
    def save(self, store: str, items: list[dict[str, Any]] | bytes, **kw: Any) -> Resp:
        return self.request("POST", f"/v1.0/state/{store}", items, **kw)

    def get(self, store: str, key: str, **kw: Any) -> Resp:
        return self.request("GET", f"/v1.0/state/{store}/{quote(key)}", **kw)

    def delete(self, store: str, key: str, **kw: Any) -> Resp:
        return self.request("DELETE", f"/v1.0/state/{store}/{quote(key)}", **kw)

    def bulk(self, store: str, keys: list[str], **kw: Any) -> Resp:
        return self.request("POST", f"/v1.0/state/{store}/bulk", {"keys": keys}, **kw)

    def transact(self, store: str, body: dict[str, Any] | bytes, **kw: Any) -> Resp:
        return self.request("POST", f"/v1.0/state/{store}/transaction", body, **kw)

    def query(self, store: str, body: dict[str, Any] | bytes, **kw: Any) -> Resp:
        return self.request("POST", f"/v1.0-alpha1/state/{store}/query", body, **kw)

    def list_keys(self, store: str, **query: str) -> Resp:
        return self.request("GET", f"/v1.0-alpha1/state/{store}/keys", query=query)


# ---- the sidecar under test --------------------------------------------------------------


@dataclass
class StateEnv:
    """One running sidecar over one backend, with the main store and keyPrefix variants."""

    kind: str
    backend: Backend
    sidecar: Sidecar
    http: Http
    app_id: str
    features: frozenset[str]
    store: str = STORE
    variants: dict[str, str] = field(default_factory=dict)  # keyPrefix mode -> store name
    custom_prefix: str = ""  # the keyPrefix setting of the "custom" variant store

    @property
    def grpc_target(self) -> str:
        return self.sidecar.grpc_target

    def key(self, label: str = "k") -> str:
        """A key no other test of this run uses."""
        return f"{label}-{uuid.uuid4().hex[:10]}"

    def has(self, feature: str) -> bool:
        return feature in self.features


MAX_BODY = 1024 * 1024  # --max-body-size of every sidecar under test: 1 MiB


@dataclass
class _Plan:
    components: list[str]
    variants: dict[str, str]
    custom_prefix: str


def _plan(backend: Backend, extra: Mapping[str, str]) -> _Plan:
    run = backend.run
    custom = f"C{run}"  # mixed case: Dapr lower-cases a custom prefix
    variants = {
        "none": "nopfx",
        "name": f"n{run}",  # stored as n<run>||key: unique on a shared server
        "custom": "custom",
        "namespace": "nspfx",
    }
    settings = {"custom": custom}
    components = [backend.component(STORE, **extra)]
    for mode, name in variants.items():
        setting = settings.get(mode, mode)
        components.append(backend.component(name, keyPrefix=setting))
    return _Plan(components, variants, custom)


@contextlib.contextmanager
def start_env(
    kind: str,
    tmp: Path,
    *,
    args: tuple[str, ...] = (),
    with_variants: bool = True,
    metadata: Mapping[str, str] | None = None,
) -> Iterator[StateEnv]:
    """Start one sidecar over ``kind`` (unique app id and data), yield it, clean up after.

    ``metadata`` is added to the main store's component metadata (e.g. short timeouts);
    ``with_variants`` adds the keyPrefix variant stores.
    """
    run = unique("st")
    tmp.mkdir(parents=True, exist_ok=True)
    backend = make_backend(kind, run, tmp)
    try:
        plan = _plan(backend, metadata or {})
        components = plan.components if with_variants else plan.components[:1]
        with Sidecar.start(
            tmp,
            components=components,
            app_id=run,
            args=["--max-body-size", str(MAX_BODY), *args],
        ) as sc:
            http = Http(sc.http_port)
            try:
                meta = http.request("GET", "/v1.0/metadata").json()
                caps = next(c["capabilities"] for c in meta["components"] if c["name"] == STORE)
                yield StateEnv(
                    kind=kind,
                    backend=backend,
                    sidecar=sc,
                    http=http,
                    app_id=run,
                    features=frozenset(caps),
                    variants=plan.variants if with_variants else {},
                    custom_prefix=plan.custom_prefix,
                )
            finally:
                http.close()
    finally:
        backend.cleanup()


def query_rows(n: int = 5) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """A fresh tag and ``n`` rows (key, JSON value) carrying it, for the query tests."""
    tag = uuid.uuid4().hex
    rows = [
        (
            f"q{i}-{tag[:8]}",
            {"tag": tag, "n": i, "color": "red" if i % 2 else "blue", "p": {"v": i * 10}},
        )
        for i in range(n)
    ]
    return tag, rows


def query_cases(tag: str) -> list[tuple[dict[str, Any], list[int]]]:
    """Queries over the five ``query_rows`` of ``tag`` and the ``n`` of each result, in order."""
    eq_tag = {"EQ": {"tag": tag}}
    return [
        ({"filter": {"AND": [eq_tag, {"EQ": {"color": "red"}}]}, "sort": [{"key": "n"}]}, [1, 3]),
        (
            {
                "filter": {"AND": [eq_tag, {"IN": {"n": [0, 4, 9]}}]},
                "sort": [{"key": "n", "order": "DESC"}],
            },
            [4, 0],
        ),
        (
            {
                "filter": {"AND": [eq_tag, {"OR": [{"EQ": {"n": 2}}, {"EQ": {"p.v": 30}}]}]},
                "sort": [{"key": "p.v", "order": "ASC"}],
            },
            [2, 3],
        ),
    ]
