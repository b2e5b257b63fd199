"""The state API: get/save/delete with ETags and TTL, bulk, transactions, query, keys."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from tandem._rawjson import raw_array_of_objects, raw_object
from tandem._transport import Transport, check_name, json_str, meta_params, to_json_bytes
from tandem._types import Delete, KeysPage, QueryResult, StateEntry, StateItem, Upsert
from tandem.errors import InvalidArgument

__all__ = ["StateAPI"]

_JSON = {"Content-Type": "application/json"}


_PATHS: dict[tuple[str, str, str], str] = {}  # (store, suffix, version) -> path; bounded


def _key_path(store: str, key: str) -> str:
    return _store_path(store) + "/" + quote(check_name("key", key), safe="")


def _store_path(store: str, suffix: str = "", version: str = "v1.0") -> str:
    """The store's URL path (validated and quoted once per store name)."""
    try:
        return _PATHS[store, suffix, version]
    except (KeyError, TypeError):  # TypeError: an unhashable store, rejected below
        pass
    path = f"/{version}/state/{quote(check_name('store', store), safe='')}{suffix}"
    if len(_PATHS) >= 256:
        _PATHS.clear()
    _PATHS[store, suffix, version] = path
    return path


def _entry_json(entry: StateEntry) -> bytes:
    return _save_item(
        entry.key,
        entry.value,
        etag=entry.etag,
        ttl_seconds=entry.ttl_seconds,
        concurrency=entry.concurrency,
        consistency=entry.consistency,
        metadata=entry.metadata,
    )


def _save_item(
    key: str,
    value: Any,
    *,
    etag: str | None = None,
    ttl_seconds: int | None = None,
    concurrency: str | None = None,
    consistency: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """A save item as JSON, written directly (no intermediate dict); a ``bytes`` value is
    embedded unchanged when it is JSON text."""
    out = '{"key":' + json_str(check_name("key", key))
    if etag is not None:
        out += ',"etag":' + json_str(check_name("etag", etag))
    if ttl_seconds is not None or metadata:
        meta = dict(metadata or {})
        if ttl_seconds is not None:
            if not isinstance(ttl_seconds, int) or ttl_seconds < -1:  # type: ignore[redundant-expr]
                raise InvalidArgument(f"ttl_seconds must be an int >= -1, got {ttl_seconds!r}")
            meta["ttlInSeconds"] = str(ttl_seconds)
        meta_params(meta)  # validates the values
        out += ',"metadata":' + to_json_bytes(meta).decode()
    if concurrency is not None or consistency is not None:
        options = {
            k: v
            for k, v in (("concurrency", concurrency), ("consistency", consistency))
            if v is not None
        }
        out += ',"options":' + to_json_bytes(options).decode()
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        try:
            json.loads(raw)
        except ValueError:
            raise InvalidArgument(
                f"bytes value for {key!r} is not JSON text: Dapr's HTTP API stores JSON"
                " (encode the bytes, e.g. base64, or pass a str)"
            ) from None
    else:
        raw = to_json_bytes(value)
    return out.encode() + b',"value":' + raw + b"}"


def _items(members: list[dict[str, str]]) -> list[tuple[str, dict[str, str]]]:
    return [(json.loads(m["key"]), m) for m in members]


class StateAPI(Transport):
    """State calls; see ``AsyncClient``."""

    async def get_state(
        self, store: str, key: str, *, metadata: Mapping[str, str] | None = None
    ) -> StateItem | None:
        """The stored item (bytes exactly as stored, and its ETag), or None when absent.

        Example::

            item = await client.get_state("statestore", "order-1")
            if item is not None:
                print(item.json(), item.etag)
        """
        status, headers, data = await self.call(
            "GET", _key_path(store, key), params=meta_params(metadata)
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
        """Save one value (JSON-encoded; ``bytes`` stored exactly).

        With ``etag`` the save only happens if the item is still at that ETag (else
        ``ETagMismatch``); ``ttl_seconds`` expires it.

        Example::

            await client.save_state("statestore", "order-1", {"qty": 2}, ttl_seconds=3600)
        """
        path = _store_path(store)
        item = _save_item(
            key,
            value,
            etag=etag,
            ttl_seconds=ttl_seconds,
            concurrency="first-write" if first_write else None,
            metadata=metadata,
        )
        await self.call("POST", path, body=b"[" + item + b"]", headers=_JSON)

    async def save_bulk_state(self, store: str, entries: Sequence[StateEntry]) -> None:
        """Save several ``StateEntry`` values in one call."""
        path = _store_path(store)
        body = b"[" + b",".join(_entry_json(e) for e in entries) + b"]"
        await self.call("POST", path, body=body, headers=_JSON)

    async def delete_state(
        self,
        store: str,
        key: str,
        *,
        etag: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Delete a key (only at ``etag`` when given, else ``ETagMismatch``)."""
        headers = {"If-Match": check_name("etag", etag)} if etag is not None else None
        await self.call(
            "DELETE", _key_path(store, key), headers=headers, params=meta_params(metadata)
        )

    async def get_bulk_state(
        self, store: str, keys: Sequence[str], *, metadata: Mapping[str, str] | None = None
    ) -> list[StateItem | None]:
        """The items for ``keys``, in order (None where a key is absent); bytes exact.

        Example::

            a, b = await client.get_bulk_state("statestore", ["order-1", "order-2"])
        """
        for k in keys:
            check_name("key", k)
        path = _store_path(store, "/bulk")
        body = to_json_bytes({"keys": list(keys)})
        _, _, data = await self.call(
            "POST", path, body=body, headers=_JSON, params=meta_params(metadata)
        )
        members, _ = raw_array_of_objects(data.decode())
        by_key = {k: await self._item(store, k, m) for k, m in _items(members)}
        return [by_key.get(k) for k in keys]

    async def _item(self, store: str, key: str, m: dict[str, str]) -> StateItem | None:
        """A bulk/query result as a StateItem with the stored bytes exactly.

        A JSON string in ``data`` is ambiguous on Dapr's wire (a stored JSON string, or
        non-JSON bytes the sidecar wrapped in one): such items are read again with a plain
        get, which answers the stored bytes.
        """
        raw = m.get("data")
        if raw is None:
            return None
        if raw.startswith('"'):
            return await self.get_state(store, key)
        etag = json.loads(m["etag"]) if "etag" in m else None
        meta = json.loads(m["metadata"]) if "metadata" in m else {}
        return StateItem(key=key, data=raw.encode(), etag=etag, metadata=meta)

    async def execute_state_transaction(
        self,
        store: str,
        operations: Sequence[Upsert | Delete],
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Apply upserts and deletes atomically.

        Example::

            await client.execute_state_transaction(
                "statestore", [Upsert(StateEntry("a", 1)), Delete("b")]
            )
        """
        parts = []
        for op in operations:
            if isinstance(op, Upsert):
                parts.append(b'{"operation":"upsert","request":' + _entry_json(op.entry) + b"}")
            elif isinstance(op, Delete):
                req: dict[str, Any] = {"key": check_name("key", op.key)}
                if op.etag is not None:
                    req["etag"] = op.etag
                if op.metadata:
                    req["metadata"] = dict(op.metadata)
                parts.append(to_json_bytes({"operation": "delete", "request": req}))
            else:
                raise InvalidArgument(f"operations hold Upsert or Delete, got {op!r}")
        body = b'{"operations":[' + b",".join(parts) + b"]"
        if metadata:
            body += b',"metadata":' + to_json_bytes(dict(metadata))
        await self.call("POST", _store_path(store, "/transaction"), body=body + b"}")

    async def query_state(
        self,
        store: str,
        query: Mapping[str, Any],
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> QueryResult:
        """Run a Dapr state query (``filter``, ``sort``, ``page``); values bytes exact.

        Example::

            result = await client.query_state("statestore", {"filter": {"EQ": {"kind": "tea"}}})
        """
        status, _, data = await self.call(
            "POST",
            _store_path(store, "/query", "v1.0-alpha1"),
            body=to_json_bytes(query),
            params=meta_params(metadata),
        )
        if status == 204 or not data:
            return QueryResult(items=[], token=None)
        doc, _ = raw_object(data.decode())
        members, _ = raw_array_of_objects(doc.get("results", "[]"))
        items = [it for k, m in _items(members) if (it := await self._item(store, k, m))]
        token = json.loads(doc["token"]) if "token" in doc else None
        return QueryResult(items=items, token=token or None)

    async def list_state_keys(
        self, store: str, *, prefix: str = "", limit: int | None = None, token: str | None = None
    ) -> KeysPage:
        """One page of keys (``token`` continues a listing)."""
        params = {"prefix": prefix}
        if limit is not None:
            if not isinstance(limit, int) or limit <= 0:  # type: ignore[redundant-expr]
                raise InvalidArgument(f"limit must be a positive int, got {limit!r}")
            params["limit"] = str(limit)
        if token:
            params["token"] = token
        _, _, data = await self.call(
            "GET", _store_path(store, "/keys", "v1.0-alpha1"), params=params
        )
        doc = json.loads(data)
        return KeysPage(keys=doc.get("keys", []), token=doc.get("token") or None)

    async def iter_state_keys(
        self, store: str, *, prefix: str = "", page_size: int = 100
    ) -> AsyncIterator[str]:
        """Every key with ``prefix``, page by page.

        Example::

            async for key in client.iter_state_keys("statestore", prefix="order-"):
                print(key)
        """
        token: str | None = None
        while True:
            page = await self.list_state_keys(store, prefix=prefix, limit=page_size, token=token)
            for key in page.keys:
                yield key
            if not page.token:
                return
            token = page.token
