"""OFREP (OpenFeature Remote Evaluation Protocol) on the HTTP API port: ``/ofrep/v1/...``.

Shapes are the ones the OpenFeature OFREP providers accept: ``variant`` always present (null
when there is none), ``metadata`` always present, floats kept as floats, standard reasons only;
a code default or DISABLED omits ``value``. Statuses follow flagd: 404 FLAG_NOT_FOUND, 400 for
every other evaluation error and for a body that is not a JSON object with an object
``context`` (INVALID_CONTEXT); the middleware gives 401 (API token) and 413 (body limit).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import msgspec
from aiohttp import web

from components.flags import ErrorCode, Resolution
from runtime.api.http.keys import SERVICES
from runtime.services.flags_errors import FlagsRequestError

__all__ = ["SELECTOR_HEADER", "routes"]

routes = web.RouteTableDef()
SELECTOR_HEADER = "Flagd-Selector"
_KEEPALIVE_SECONDS = 20.0
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _item(res: Resolution) -> dict[str, Any]:
    if res.error_code is not None:
        return {
            "key": res.key,
            "errorCode": res.error_code.value,
            "errorDetails": res.error_message or "",
            "metadata": res.metadata,
        }
    body: dict[str, Any] = {
        "key": res.key,
        "reason": res.reason.value,
        "variant": res.variant,
        "metadata": res.metadata,
    }
    if res.has_value:
        body["value"] = res.value
    return body


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encode(body), status=status, content_type="application/json", headers=headers
    )


def _failure(key: str | None, code: ErrorCode, details: str) -> web.Response:
    status = 404 if code is ErrorCode.FLAG_NOT_FOUND else 400
    body: dict[str, Any] = {"errorCode": code.value, "errorDetails": details}
    if key is not None:
        body = {"key": key, **body, "metadata": {}}
    return _json(body, status)


async def _context(request: web.Request) -> dict[str, Any]:
    from runtime.services.flags import check_context

    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = _decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise FlagsRequestError(ErrorCode.INVALID_CONTEXT, f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise FlagsRequestError(ErrorCode.INVALID_CONTEXT, "body must be a JSON object")
    return check_context(body.get("context"))


@routes.post("/ofrep/v1/evaluate/flags/{key}")
async def evaluate_flag(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    flags = request.app[SERVICES].flags
    try:
        context = await _context(request)
        if flags is None:
            return _failure(key, ErrorCode.FLAG_NOT_FOUND, "no flag source is configured")
        res = flags.evaluate(key, context, selector=request.headers.get(SELECTOR_HEADER))
    except FlagsRequestError as exc:
        return _failure(key, exc.code, exc.message)
    if res.error_code is not None:
        status = 404 if res.error_code is ErrorCode.FLAG_NOT_FOUND else 400
        return _json(_item(res), status)
    return _json(_item(res))


def _etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison (``W/`` ignored); ``*`` is not honoured (POST)."""
    if not header:
        return False
    bare = etag.strip('"')
    return any(t.strip().removeprefix("W/").strip('"') == bare for t in header.split(","))


@routes.post("/ofrep/v1/evaluate/flags")
@routes.post("/ofrep/v1/evaluate/flags/")
async def evaluate_all(request: web.Request) -> web.Response:
    flags = request.app[SERVICES].flags
    try:
        context = await _context(request)
        if flags is None:
            items: list[dict[str, Any]] = []
            metadata: Any = {}
        else:
            results, metadata = flags.evaluate_all(
                context, selector=request.headers.get(SELECTOR_HEADER)
            )
            items = [_item(r) for r in results]
    except FlagsRequestError as exc:
        return _failure(None, exc.code, exc.message)
    body = _encode({"flags": items, "metadata": metadata})
    etag = f'"{hashlib.sha256(body).hexdigest()}"'
    if _etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(body=body, content_type="application/json", headers={"ETag": etag})


@routes.get("/ofrep/v1/sse")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``refetchEvaluation`` after every flag change (OFREP ADR-0008),
    a comment line every 20 s as keep-alive; ends when the sidecar shuts down."""
    services = request.app[SERVICES]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b": connected\n\n")
    if services.flags is None:
        await services.status.shutdown_requested.wait()
        return response
    try:
        async for revision in services.flags.changes(
            stop=services.status.shutdown_requested, keepalive=_KEEPALIVE_SECONDS
        ):
            if revision is None:
                await response.write(b": keep-alive\n\n")
                continue
            message = {
                "type": "refetchEvaluation",
                "etag": str(revision),
                "lastModified": int(time.time()),
            }
            await response.write(b"event: message\ndata: " + _encode(message) + b"\n\n")
    except ConnectionResetError:
        pass
    return response
