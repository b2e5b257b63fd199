"""The app side: subscriptions and invocation handlers, served by aiohttp or as plain ASGI.

Example::

    from tandem.app import App, CloudEvent, Drop

    app = App()

    @app.subscribe("pubsub", "orders")
    async def on_order(event: CloudEvent) -> None:
        order = event.data_as(Order)        # a dataclass from the event's JSON data
        if order.qty <= 0:
            raise Drop("empty order")       # DROP; any other exception: RETRY

    @app.method("place")
    async def place(request: Request) -> dict[str, str]:
        return {"id": request.json()["id"]}  # answered as JSON

    @app.method("orders/{id}")              # a template: one segment per {name}
    async def get_order(request: Request) -> dict[str, str]:
        return {"id": request.path_params["id"]}

    web.run_app(app.aiohttp_app(), port=3000)   # or: uvicorn module:app (App is ASGI)

The sidecar reads ``GET /dapr/subscribe`` and POSTs events to each subscription's route;
handler results map to Dapr's verdicts: None or ``Status.SUCCESS`` → SUCCESS, ``Retry`` /
``Status.RETRY`` / any other exception → RETRY, ``Drop`` / ``Status.DROP`` → DROP.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import enum
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from aiohttp import web

__all__ = [
    "App",
    "CloudEvent",
    "Drop",
    "Request",
    "Response",
    "Retry",
    "Status",
    "parse_cloud_event",
]

log = logging.getLogger("tandem.app")
T = TypeVar("T")


class Status(enum.StrEnum):
    """Dapr's delivery verdicts."""

    SUCCESS = "SUCCESS"
    RETRY = "RETRY"
    DROP = "DROP"


class Retry(Exception):
    """Raise in a subscription handler to have the event delivered again."""


class Drop(Exception):
    """Raise in a subscription handler to drop the event (dead-letter topic if any)."""


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """An event as delivered: CloudEvents attributes, the data decoded, Dapr's extensions."""

    id: str
    source: str
    type: str
    topic: str
    pubsub: str
    data: Any  # decoded JSON, text, or bytes (``data_base64``)
    data_content_type: str = "application/json"
    specversion: str = "1.0"
    subject: str | None = None
    time: str | None = None
    traceparent: str | None = None
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def data_as(self, cls: builtins.type[T]) -> T:
        """The data as ``cls``: a dataclass from a JSON object, else ``cls(data)``."""
        if dataclasses.is_dataclass(cls) and isinstance(self.data, Mapping):
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in self.data.items() if k in names})
        factory: Callable[[Any], T] = cls
        return factory(self.data)


_KNOWN = {
    "id",
    "source",
    "type",
    "specversion",
    "datacontenttype",
    "data",
    "data_base64",
    "subject",
    "time",
    "topic",
    "pubsubname",
    "traceparent",
}


def parse_cloud_event(body: bytes, content_type: str = "") -> CloudEvent:
    """An event from a delivery body: a CloudEvents JSON envelope or a raw payload."""
    doc: Any = None
    if body.strip():
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
    if not isinstance(doc, dict) or "specversion" not in doc:
        return CloudEvent("", "", "", "", "", doc if doc is not None else body, content_type)
    ctype = str(doc.get("datacontenttype") or "application/json")
    if "data_base64" in doc:
        data: Any = base64.b64decode(doc["data_base64"])
    else:
        data = doc.get("data")
    return CloudEvent(
        id=str(doc.get("id", "")),
        source=str(doc.get("source", "")),
        type=str(doc.get("type", "")),
        topic=str(doc.get("topic", "")),
        pubsub=str(doc.get("pubsubname", "")),
        data=data,
        data_content_type=ctype,
        specversion=str(doc.get("specversion", "1.0")),
        subject=doc.get("subject"),
        time=doc.get("time"),
        traceparent=doc.get("traceparent"),
        extensions={k: v for k, v in doc.items() if k not in _KNOWN},
    )


@dataclass(frozen=True, slots=True)
class Request:
    """An invocation as the app receives it (``path_params``: a template's ``{name}`` values)."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    path_params: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode()


@dataclass(frozen=True, slots=True)
class Response:
    """An explicit answer from an invocation handler."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(_to_json(value), status, "application/json")


def _default(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _to_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=_default).encode()


def _answer(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status=200)
    if isinstance(result, bytes | bytearray):
        return Response(bytes(result))
    if isinstance(result, str):
        return Response(result.encode(), content_type="text/plain; charset=utf-8")
    return Response.json(result)


def _template(path: str) -> re.Pattern[str]:
    """``/orders/{id}`` as a pattern matching one segment per field."""
    field_re = r"\{([A-Za-z_][A-Za-z0-9_]*)\}"
    literal = re.sub(field_re, "", path)
    if "{" in literal or "}" in literal:
        raise ValueError(f"bad method template {path!r}: use {{name}} for a segment")
    out, pos = "", 0
    for m in re.finditer(field_re, path):
        out += re.escape(path[pos : m.start()]) + f"(?P<{m.group(1)}>[^/]+)"
        pos = m.end()
    try:
        return re.compile(out + re.escape(path[pos:]))
    except re.error as exc:  # a field named twice
        raise ValueError(f"bad method template {path!r}: {exc}") from None


def _verdict(status: Status) -> Response:
    return Response.json({"status": status.value})


EventHandler = Callable[[CloudEvent], Awaitable[Status | None]]
MethodHandler = Callable[[Request], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class _Subscription:
    pubsub: str
    topic: str
    route: str
    metadata: Mapping[str, str]
    dead_letter_topic: str | None
    handler: EventHandler


class App:
    """Subscriptions and invocation handlers, with one framework-free dispatcher (``handle``).

    ``aiohttp_app()`` serves them from aiohttp; the App itself is an ASGI application.
    """

    def __init__(self) -> None:
        self._subs: dict[str, _Subscription] = {}
        self._methods: dict[str, MethodHandler] = {}
        self._templates: list[tuple[re.Pattern[str], MethodHandler]] = []

    def subscribe(
        self,
        pubsub: str,
        topic: str,
        *,
        route: str | None = None,
        metadata: Mapping[str, str] | None = None,
        dead_letter_topic: str | None = None,
    ) -> Callable[[EventHandler], EventHandler]:
        """Declare a handler for ``topic`` on ``pubsub`` (served at ``route``)."""
        if not pubsub or not topic:
            raise ValueError("pubsub and topic must be non-empty")
        path = route or f"/events/{pubsub}/{topic}"
        if not path.startswith("/"):
            path = "/" + path

        def register(handler: EventHandler) -> EventHandler:
            if path in self._subs:
                raise ValueError(f"route {path!r} already has a subscription")
            self._subs[path] = _Subscription(
                pubsub, topic, path, dict(metadata or {}), dead_letter_topic, handler
            )
            return handler

        return register

    def method(self, name: str) -> Callable[[MethodHandler], MethodHandler]:
        """Declare the handler other apps reach with ``invoke(<this app>, name)``.

        ``name`` may be a template, ``"orders/{id}"``: each ``{field}`` matches one path
        segment, handed to the handler in ``request.path_params``. Exact names win over
        templates; templates are tried in declaration order.
        """
        path = "/" + name.strip("/")
        if path == "/":
            raise ValueError("method name must be non-empty")
        pattern = _template(path) if "{" in path else None

        def register(handler: MethodHandler) -> MethodHandler:
            if pattern is None:
                self._methods[path] = handler
            else:
                self._templates.append((pattern, handler))
            return handler

        return register

    def subscriptions(self) -> list[dict[str, Any]]:
        """The ``/dapr/subscribe`` document."""
        out = []
        for s in self._subs.values():
            doc: dict[str, Any] = {"pubsubname": s.pubsub, "topic": s.topic, "route": s.route}
            if s.metadata:
                doc["metadata"] = dict(s.metadata)
            if s.dead_letter_topic:
                doc["deadLetterTopic"] = s.dead_letter_topic
            out.append(doc)
        return out

    async def handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        """Answer one request from the sidecar (``headers`` with lower-case names)."""
        if method == "GET" and path == "/dapr/subscribe":
            return Response.json(self.subscriptions())
        sub = self._subs.get(path)
        if sub is not None and method == "POST":
            return _verdict(await self._deliver(sub, headers, body))
        handler = self._methods.get(path)
        params: dict[str, str] = {}
        if handler is None:
            for pattern, candidate in self._templates:
                if (match := pattern.fullmatch(path)) is not None:
                    handler = candidate
                    params = {k: unquote(v) for k, v in match.groupdict().items()}
                    break
            else:
                return Response(b"not found", 404, "text/plain")
        request = Request(method, path, headers, query or {}, body, params)
        try:
            return _answer(await handler(request))
        except Exception as exc:
            log.exception("invocation handler for %s failed", path)
            return Response.json({"error": f"{type(exc).__name__}: {exc}"}, status=500)

    async def _deliver(self, sub: _Subscription, headers: Mapping[str, str], body: bytes) -> Status:
        event = parse_cloud_event(body, headers.get("content-type", ""))
        try:
            result = await sub.handler(event)
        except Drop:
            return Status.DROP
        except Retry:
            return Status.RETRY
        except Exception:
            log.exception("handler for topic %r failed (RETRY)", sub.topic)
            return Status.RETRY
        return Status(result) if result is not None else Status.SUCCESS

    # ---- adapters -------------------------------------------------------------------------

    def aiohttp_app(self, app: web.Application | None = None) -> web.Application:
        """An aiohttp application serving this App (or ``app`` with a catch-all route added)."""
        target = app if app is not None else web.Application()

        async def serve(request: web.Request) -> web.Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            answer = await self.handle(
                request.method, request.path, headers, await request.read(), dict(request.query)
            )
            return web.Response(
                body=answer.body,
                status=answer.status,
                headers={**answer.headers, "Content-Type": answer.content_type},
            )

        target.router.add_route("*", "/{tail:.*}", serve)
        return target

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        """ASGI 3 entry point (``http`` and ``lifespan`` scopes)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        answer = await self.handle(scope["method"], scope["path"], headers, b"".join(chunks), query)
        raw_headers = [(b"content-type", answer.content_type.encode("latin-1"))]
        raw_headers += [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": answer.body})
