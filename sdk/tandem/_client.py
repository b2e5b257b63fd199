"""The async client over the sidecar's HTTP API."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp

from tandem._errors import ETagMismatch, NotFoundError, TandemError
from tandem._types import KeysPage, QueryResult, StateItem

__all__ = ["Client"]

_NOT_FOUND = {"ERR_STATE_STORE_NOT_FOUND"}


def _meta_params(metadata: Mapping[str, str] | None) -> dict[str, str]:
    return {f"metadata.{k}": v for k, v in (metadata or {}).items()}


def _item_json(raw: Any) -> bytes:
    """A bulk/query ``data`` field back to the stored bytes (JSON values were embedded)."""
    return json.dumps(raw, separators=(",", ":")).encode()


class Client:
    """Talks to the sidecar on ``http_endpoint`` (default ``http://127.0.0.1:$DAPR_HTTP_PORT``).

    Values passed to ``save_state`` are JSON-encoded (as the Dapr HTTP API stores them), except
    ``bytes``, which must already hold JSON text and are sent unchanged.
    """

    def __init__(
        self,
        *,
        http_endpoint: str | None = None,
        api_token: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        port = os.environ.get("DAPR_HTTP_PORT", "3500")
        self._base = (
            http_endpoint or os.environ.get("DAPR_HTTP_ENDPOINT") or f"http://127.0.0.1:{port}"
        ).rstrip("/")
        token = api_token if api_token is not None else os.environ.get("DAPR_API_TOKEN")
        self._headers = {"dapr-api-token": token} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        async with self._http().request(
            method, self._base + path, data=body, params=params, headers=headers
        ) as resp:
            data = await resp.read()
            if resp.status >= 400:
                raise _error(resp.status, data)
            return resp.status, resp.headers, data

    # ---- health and metadata -------------------------------------------------------------

    async def wait_for_sidecar(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until ``/v1.0/healthz/outbound`` answers 2xx; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                async with self._http().get(self._base + "/v1.0/healthz/outbound") as resp:
                    if resp.status < 300:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"sidecar at {self._base} not ready after {timeout}s")
            await asyncio.sleep(0.05)

    async def get_metadata(self) -> dict[str, Any]:
        _, _, data = await self._call("GET", "/v1.0/metadata")
        result: dict[str, Any] = json.loads(data)
        return result

    async def shutdown(self) -> None:
        await self._call("POST", "/v1.0/shutdown")

    # ---- state ---------------------------------------------------------------------------

    async def get_state(
        self, store: str, key: str, *, metadata: Mapping[str, str] | None = None
    ) -> StateItem | None:
        """The item, or None when the key does not exist."""
        status, headers, data = await self._call(
            "GET",
            f"/v1.0/state/{quote(store)}/{quote(key, safe='')}",
            params=_meta_params(metadata),
        )
        if status == 204:
            return None
        meta = {k[len("metadata.") :]: v for k, v in headers.items() if k.startswith("metadata.")}
        return StateItem(key=key, data=data, etag=headers.get("ETag"), metadata=meta)

    async def save_state(
        self,
        store: str,
        key: str,
        value: Any,
        *,
        etag: str | None = None,
        ttl_seconds: int | None = None,
        first_write: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        await self.save_bulk_state(
            store,
            [
                _entry(
                    key,
                    value,
                    etag=etag,
                    ttl_seconds=ttl_seconds,
                    first_write=first_write,
                    metadata=metadata,
                )
            ],
        )

    async def save_bulk_state(self, store: str, entries: Sequence[Mapping[str, Any]]) -> None:
        """``entries`` as produced by ``Client.entry(...)`` (or raw Dapr save items)."""
        await self._call(
            "POST",
            f"/v1.0/state/{quote(store)}",
            body=_encode_items(entries),
            headers={"Content-Type": "application/json"},
        )

    @staticmethod
    def entry(
        key: str,
        value: Any,
        *,
        etag: str | None = None,
        ttl_seconds: int | None = None,
        first_write: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return _entry(
            key,
            value,
            etag=etag,
            ttl_seconds=ttl_seconds,
            first_write=first_write,
            metadata=metadata,
        )

    async def get_bulk_state(self, store: str, keys: Sequence[str]) -> list[StateItem | None]:
        body = json.dumps({"keys": list(keys)}).encode()
        _, _, data = await self._call("POST", f"/v1.0/state/{quote(store)}/bulk", body=body)
        out: list[StateItem | None] = []
        for it in json.loads(data):
            if "data" not in it:
                out.append(None)
            else:
                out.append(
                    StateItem(
                        key=it["key"],
                        data=_item_json(it["data"]),
                        etag=it.get("etag"),
                        metadata=it.get("metadata") or {},
                    )
                )
        return out

    async def delete_state(self, store: str, key: str, *, etag: str | None = None) -> None:
        headers = {"If-Match": etag} if etag is not None else None
        await self._call(
            "DELETE", f"/v1.0/state/{quote(store)}/{quote(key, safe='')}", headers=headers
        )

    async def execute_state_transaction(
        self,
        store: str,
        operations: Sequence[tuple[str, Mapping[str, Any]]],
    ) -> None:
        """``operations``: ``("upsert", Client.entry(...))`` or ``("delete", {"key": k})``."""
        ops = [{"operation": op, "request": _wire(req)} for op, req in operations]
        await self._call(
            "POST",
            f"/v1.0/state/{quote(store)}/transaction",
            body=json.dumps({"operations": ops}).encode(),
        )

    async def query_state(self, store: str, query: Mapping[str, Any]) -> QueryResult:
        status, _, data = await self._call(
            "POST", f"/v1.0-alpha1/state/{quote(store)}/query", body=json.dumps(query).encode()
        )
        if status == 204:
            return QueryResult(items=[], token=None)
        doc = json.loads(data)
        items = [
            StateItem(key=r["key"], data=_item_json(r.get("data")), etag=r.get("etag"))
            for r in doc.get("results", [])
        ]
        return QueryResult(items=items, token=doc.get("token"))

    async def list_state_keys(
        self, store: str, *, prefix: str = "", limit: int | None = None, token: str | None = None
    ) -> KeysPage:
        params = {"prefix": prefix}
        if limit is not None:
            params["limit"] = str(limit)
        if token:
            params["token"] = token
        _, _, data = await self._call(
            "GET", f"/v1.0-alpha1/state/{quote(store)}/keys", params=params
        )
        doc = json.loads(data)
        return KeysPage(keys=doc.get("keys", []), token=doc.get("token"))

    async def iter_state_keys(
        self, store: str, *, prefix: str = "", page_size: int = 100
    ) -> AsyncIterator[str]:
        token: str | None = None
        while True:
            page = await self.list_state_keys(store, prefix=prefix, limit=page_size, token=token)
            for key in page.keys:
                yield key
            if not page.token:
                return
            token = page.token


def _entry(
    key: str,
    value: Any,
    *,
    etag: str | None,
    ttl_seconds: int | None,
    first_write: bool,
    metadata: Mapping[str, str] | None,
) -> dict[str, Any]:
    item: dict[str, Any] = {"key": key, "value": value}
    if etag is not None:
        item["etag"] = etag
    meta = dict(metadata or {})
    if ttl_seconds is not None:
        meta["ttlInSeconds"] = str(ttl_seconds)
    if meta:
        item["metadata"] = meta
    if first_write:
        item["options"] = {"concurrency": "first-write"}
    return item


def _wire(item: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(item)
    if isinstance(out.get("value"), bytes):
        out["value"] = json.loads(out["value"])
    return out


def _encode_items(entries: Sequence[Mapping[str, Any]]) -> bytes:
    parts = []
    for e in entries:
        value = e.get("value")
        if isinstance(value, bytes):  # JSON text given by the caller: embed it unchanged
            rest = {k: v for k, v in e.items() if k != "value"}
            head = json.dumps(rest)[:-1]
            parts.append(f'{head}, "value": '.encode() + value + b"}")
        else:
            parts.append(json.dumps(e).encode())
    return b"[" + b",".join(parts) + b"]"


def _error(status: int, data: bytes) -> TandemError:
    try:
        doc = json.loads(data)
        code, message, details = (
            doc.get("errorCode", ""),
            doc.get("message", ""),
            doc.get("details"),
        )
    except ValueError:
        code, message, details = "", data.decode("utf-8", "replace"), None
    if status == 409:
        return ETagMismatch(status, code, message, details)
    if code in _NOT_FOUND or status == 404:
        return NotFoundError(status, code, message, details)
    return TandemError(status, code, message, details)
