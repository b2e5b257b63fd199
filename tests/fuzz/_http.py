"""HTTP side of the fuzz suite: the routes the sidecar serves and requests against them.

``routes()`` builds the real aiohttp application and reads its router, so a route added to the
sidecar is fuzzed without touching this file. Each request is generated for one route: path
parameters, query string, headers (including missing, wrong and odd ``dapr-api-token``
values) and a body. Routes whose body shape is known here get structurally valid bodies with
hostile values inside; every route also gets raw garbage and byte-level mutations of valid
bodies.
"""

from __future__ import annotations

import http.client
import inspect
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tests.fuzz._values import Values, dumps, mutate

__all__ = ["Http", "HttpRequest", "Route", "generate", "routes"]

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
# Routes that end the sidecar: fuzzed last, on their own (see test_fuzz.py).
SHUTDOWN = ("POST", "/v1.0/shutdown")


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # "/v1.0/state/{storeName}/{key}"

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


@dataclass
class HttpRequest:
    route: Route
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    good_token: bool

    def describe(self) -> str:
        body = b"" if self.body is None else self.body
        shown = body[:300] + (b"..." if len(body) > 300 else b"")
        headers = {k: v if len(v) <= 80 else v[:77] + "..." for k, v in self.headers.items()}
        return f"{self.method} {self.path[:300]} headers={headers} body={shown!r}"


def routes() -> list[Route]:
    """Every (method, path template) of the sidecar's HTTP API, read from its router."""
    from runtime.api.http.server import build_app

    kwargs: dict[str, Any] = {}
    for name, param in inspect.signature(build_app).parameters.items():
        if param.default is inspect.Parameter.empty:
            kwargs[name] = 1 << 20 if "int" in str(param.annotation) else None
    app = build_app(**kwargs)
    found = {
        Route(r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.method != "*"
    }
    return sorted(found, key=lambda r: (r.template, r.method))


def _param(v: Values, name: str) -> str:
    if name == "storeName":
        raw = v.store()
    elif name == "key":
        raw = v.key()
    else:
        raw = v.string()
    if v.chance(0.1):  # raw, unusual characters straight in the path
        return raw.replace(" ", "%20").replace("?", "%3F").replace("#", "%23") or "x"
    return quote(raw, safe="/" if v.chance(0.3) else "") or "x"


def _item(v: Values) -> Any:
    item: dict[str, Any] = {"key": v.key(), "value": v.json_value()}
    if v.chance(0.2):
        item["value"] = v.rng.choice([v.string(), v.integer(), None])
    if v.chance(0.3):
        item["etag"] = v.rng.choice([v.string(), v.integer(), "1", [1]])
    if v.chance(0.3):
        item["metadata"] = v.metadata()
    if v.chance(0.2):
        item["options"] = {
            "concurrency": v.rng.choice(["first-write", "last-write", v.string(), 5]),
            "consistency": v.rng.choice(["strong", "eventual", v.string()]),
        }
    if v.chance(0.05):
        del item[v.rng.choice(list(item))]
    return item


def _items(v: Values) -> list[Any]:
    n = v.rng.choice([0, 1, 1, 2, 5, 200])
    return [_item(v) for _ in range(n)]


def _json_body(v: Values, route: Route) -> bytes | None:
    """A structurally valid body for a route whose shape is known, else None."""
    t = route.template
    if t == "/v1.0/state/{storeName}":
        return dumps(_items(v))
    if t == "/v1.0/state/{storeName}/bulk":
        keys = [v.key() for _ in range(v.rng.choice([0, 1, 3, 100]))]
        return dumps({"keys": keys, "parallelism": v.integer(), "metadata": v.metadata()})
    if t == "/v1.0/state/{storeName}/transaction":
        ops = [
            {"operation": v.rng.choice(["upsert", "delete", "UPSERT", v.string()]), "request": it}
            for it in _items(v)
        ]
        return dumps({"operations": ops, "metadata": v.metadata()})
    if t == "/v1.0-alpha1/state/{storeName}/query":
        return v.query()
    if t.startswith("/v1.0/metadata/"):
        return v.string().encode("utf-8", "surrogatepass")
    return None


def _body(v: Values, route: Route) -> bytes | None:
    valid = _json_body(v, route)
    r = v.rng.random()
    if valid is not None and r < 0.6:
        return valid
    if valid is not None and r < 0.8:
        return mutate(v, valid)
    if r < 0.9:
        return v.json_text()
    if route.method in ("GET", "HEAD", "DELETE") and v.chance(0.5):
        return None
    return bytes(v.rng.randrange(256) for _ in range(v.rng.choice([0, 1, 17, 4096])))


def _query_string(v: Values) -> str:
    if v.chance(0.5):
        return ""
    names = ["metadata.ttlInSeconds", "metadata.contentType", "consistency", "concurrency"]
    names += ["limit", "prefix", "token", "appid", "metadata." + v.string(long=False)]
    parts = []
    for _ in range(v.rng.randrange(1, 4)):
        name = v.rng.choice(names)
        value = v.rng.choice([str(v.integer()), v.string(), "", "%zz", "a=b", "-5"])
        parts.append(f"{quote(name)}={quote(value, safe='%=')}")
    if v.chance(0.1):
        parts.append(v.rng.choice(["&&", "=", "a", "%", "x=%ff%fe"]))
    return "?" + "&".join(parts)


def generate(v: Values, route: Route, token: str, *, bad_token_bytes: bool) -> HttpRequest:
    """One request for ``route``. ``bad_token_bytes``: may send a non-UTF-8 token header."""
    path = _PARAM.sub(lambda m: _param(v, m.group(1)), route.template) + _query_string(v)
    headers: dict[str, str] = {}
    good_token = True
    r = v.rng.random()
    if r < 0.8:
        headers["dapr-api-token"] = token
    elif r < 0.88:
        good_token = False
    else:
        good_token = False
        choices = ["", token + "x", token.upper(), "x" * 4000, token[:-1]]
        if bad_token_bytes:
            choices.append("\udcff\udcfe")  # sent as the bytes 0xff 0xfe (see Http.send)
        headers["dapr-api-token"] = v.rng.choice(choices)
    if v.chance(0.5):
        headers["Content-Type"] = v.rng.choice(
            ["application/json", "text/plain", "application/cloudevents+json", "x/y;;", ""]
        )
    if route.method == "DELETE" and v.chance(0.4):
        headers["If-Match"] = v.rng.choice([v.string(long=False), "", "1", '"x"'])
    body = _body(v, route)
    return HttpRequest(route, route.method, path, headers, body, good_token)


class Http:
    """A keep-alive HTTP/1.1 client that sends paths and header bytes as given."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def send(self, req: HttpRequest) -> tuple[int, bytes]:
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout
                )
            try:
                conn = self._conn
                conn.putrequest(req.method, req.path, skip_accept_encoding=True)
                for name, value in req.headers.items():
                    conn.putheader(name, value.encode("utf-8", "surrogateescape"))
                body = req.body
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
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
            return resp.status, payload
        raise AssertionError("unreachable")
