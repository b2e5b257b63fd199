"""State API routes (``/v1.0/state``, ``/v1.0-alpha1/state``)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from runtime.api.http.codec import decode_body, json_response, query_metadata
from runtime.api.http.keys import SERVICES
from runtime.services.state import (
    DeleteItem,
    SaveItem,
    StateResult,
    TxOperation,
    list_limit_error,
)

__all__ = ["routes"]

routes = web.RouteTableDef()
_NULL = msgspec.Raw(b"null")

Scalar = str | int | float | bool


class _Options(msgspec.Struct):
    concurrency: str | None = None
    consistency: str | None = None


class _Item(msgspec.Struct):
    key: str
    value: msgspec.Raw = _NULL
    etag: str | int | None = None
    metadata: dict[str, Scalar] | None = None
    options: _Options | None = None


class _BulkGet(msgspec.Struct):
    keys: list[str] = []
    parallelism: int | None = None
    metadata: dict[str, Scalar] | None = None


class _TxOp(msgspec.Struct):
    operation: str
    request: _Item


class _Tx(msgspec.Struct):
    operations: list[_TxOp] = []
    metadata: dict[str, Scalar] | None = None


def _text(v: Scalar) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _save_item(item: _Item, query_meta: dict[str, str]) -> SaveItem:
    meta = {**query_meta, **{k: _text(v) for k, v in (item.metadata or {}).items()}}
    opts = item.options or _Options()
    return SaveItem(
        key=item.key,
        value=bytes(item.value),
        metadata=meta,
        etag=None if item.etag is None else str(item.etag),
        concurrency=opts.concurrency,
        consistency=opts.consistency,
    )


def _data(value: bytes | None) -> msgspec.Raw | str | None:
    """A stored value inside a JSON response: as is when it is JSON, else as a string.

    "JSON" is strict UTF-8 RFC 8259 text: Python's ``json`` module would also accept ``NaN``,
    ``Infinity`` and UTF-16/32 input, which embedded as is would break the response.
    """
    if value is None:
        return None
    try:
        msgspec.json.decode(value)
    except (msgspec.DecodeError, RecursionError):  # not JSON, or nested past msgspec's limit
        return value.decode("utf-8", "replace")
    return msgspec.Raw(value)


def _result(r: StateResult) -> dict[str, Any]:
    out: dict[str, Any] = {"key": r.key}
    if r.value is not None:
        out["data"] = _data(r.value)
    if r.etag:
        out["etag"] = r.etag
    if r.metadata:
        out["metadata"] = dict(r.metadata)
    if r.error:
        out["error"] = r.error
    return out


@routes.route("POST", "/v1.0/state/{storeName}")
@routes.route("PUT", "/v1.0/state/{storeName}")
async def save_state(request: web.Request) -> web.Response:
    items = await decode_body(request, list[_Item])
    meta = query_metadata(request)
    await request.app[SERVICES].state.save(
        request.match_info["storeName"], [_save_item(it, meta) for it in items]
    )
    return web.Response(status=204)


@routes.route("POST", "/v1.0/state/{storeName}/bulk")
@routes.route("PUT", "/v1.0/state/{storeName}/bulk")
async def bulk_get_state(request: web.Request) -> web.Response:
    body = await decode_body(request, _BulkGet)
    meta = {**query_metadata(request), **{k: _text(v) for k, v in (body.metadata or {}).items()}}
    results = await request.app[SERVICES].state.bulk_get(
        request.match_info["storeName"], body.keys, metadata=meta
    )
    return json_response([_result(r) for r in results])


@routes.route("POST", "/v1.0/state/{storeName}/transaction")
@routes.route("PUT", "/v1.0/state/{storeName}/transaction")
async def transaction(request: web.Request) -> web.Response:
    body = await decode_body(request, _Tx)
    meta = {**query_metadata(request), **{k: _text(v) for k, v in (body.metadata or {}).items()}}
    ops = []
    for op in body.operations:
        item = _save_item(op.request, {})
        if op.operation.lower() == "delete":
            ops.append(
                TxOperation(
                    operation="delete",
                    item=DeleteItem(
                        key=item.key,
                        etag=item.etag,
                        metadata=item.metadata,
                        concurrency=item.concurrency,
                        consistency=item.consistency,
                    ),
                )
            )
        else:
            ops.append(TxOperation(operation=op.operation, item=item))
    await request.app[SERVICES].state.transact(request.match_info["storeName"], ops, meta)
    return web.Response(status=204)


@routes.get("/v1.0/state/{storeName}/{key:.+}")
async def get_state(request: web.Request) -> web.Response:
    result = await request.app[SERVICES].state.get(
        request.match_info["storeName"],
        request.match_info["key"],
        consistency=request.query.get("consistency"),
        metadata=query_metadata(request),
    )
    if result.value is None:
        return web.Response(status=204)
    headers = {"Content-Type": "application/json"}
    if result.etag:
        headers["ETag"] = result.etag
    for k, v in result.metadata.items():
        headers[f"metadata.{k}"] = v
    return web.Response(body=result.value, headers=headers)


@routes.delete("/v1.0/state/{storeName}/{key:.+}")
async def delete_state(request: web.Request) -> web.Response:
    await request.app[SERVICES].state.delete(
        request.match_info["storeName"],
        DeleteItem(
            key=request.match_info["key"],
            etag=request.headers.get("If-Match"),
            metadata=query_metadata(request),
            concurrency=request.query.get("concurrency"),
            consistency=request.query.get("consistency"),
        ),
    )
    return web.Response(status=204)


@routes.route("POST", "/v1.0-alpha1/state/{storeName}/query")
@routes.route("PUT", "/v1.0-alpha1/state/{storeName}/query")
async def query_state(request: web.Request) -> web.Response:
    result = await request.app[SERVICES].state.query(
        request.match_info["storeName"], await request.read(), query_metadata(request)
    )
    if not result.results:
        return web.Response(status=204)
    body: dict[str, Any] = {"results": [_result(r) for r in result.results]}
    if result.token:
        body["token"] = result.token
    return json_response(body)


@routes.get("/v1.0-alpha1/state/{storeName}/keys")
async def list_keys(request: web.Request) -> web.Response:
    raw_limit = request.query.get("limit")
    try:
        limit = int(raw_limit) if raw_limit else None
    except ValueError:
        raise list_limit_error(request.match_info["storeName"], repr(raw_limit)) from None
    page = await request.app[SERVICES].state.list_keys(
        request.match_info["storeName"],
        prefix=request.query.get("prefix", ""),
        limit=limit,
        token=request.query.get("token"),
    )
    body: dict[str, Any] = {"keys": list(page.keys)}
    if page.token:
        body["token"] = page.token
    return json_response(body)
