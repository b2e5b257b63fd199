"""``AsyncClient``: every building block over the sidecar's HTTP API."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import quote

import aiohttp

from tandem._state import StateAPI
from tandem._streams import TopicSubscription, config_stream, open_channel
from tandem._transport import check_name, meta_params, to_json_bytes
from tandem._types import BulkMessage, ConfigurationItem, FlagEvaluation
from tandem.errors import InvalidArgument, SidecarUnavailable, TandemError, error_from_response

__all__ = ["AsyncClient", "FailedEntry", "InvokeResponse", "StreamingResponse"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class InvokeResponse:
    """The called app's answer: status, headers and body bytes."""

    status: int
    headers: Mapping[str, str]
    data: bytes

    def json(self) -> Any:
        return json.loads(self.data)

    def text(self) -> str:
        return self.data.decode()


@dataclass(slots=True)
class StreamingResponse:
    """The called app's answer, its body read chunk by chunk (``async for``)."""

    status: int
    headers: Mapping[str, str]
    _resp: aiohttp.ClientResponse = field(repr=False)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._resp.content.iter_any():
            yield chunk


@dataclass(frozen=True, slots=True)
class FailedEntry:
    entry_id: str
    error: str


def _checked(metadata: Mapping[str, str] | None) -> dict[str, str]:
    meta_params(metadata)  # validates
    return dict(metadata or {})


_PUBLISH_PATHS: dict[tuple[str, str], str] = {}  # (pubsub, topic) -> path; bounded
_CONTENT_TYPES: dict[str, dict[str, str]] = {}  # content type -> its header (read-only)


def _publish_path(pubsub: str, topic: str) -> str:
    """The publish URL path (validated and quoted once per pubsub and topic)."""
    try:
        return _PUBLISH_PATHS[pubsub, topic]
    except (KeyError, TypeError):  # TypeError: unhashable arguments, rejected below
        pass
    check_name("pubsub", pubsub)
    check_name("topic", topic)
    path = f"/v1.0/publish/{quote(pubsub, safe='')}/{quote(topic)}"
    if len(_PUBLISH_PATHS) >= 256:
        _PUBLISH_PATHS.clear()
    _PUBLISH_PATHS[pubsub, topic] = path
    return path


def _content_type_header(ctype: str) -> dict[str, str]:
    header = _CONTENT_TYPES.get(ctype)
    if header is None:
        header = {"Content-Type": ctype}
        if len(_CONTENT_TYPES) < 64:
            _CONTENT_TYPES[ctype] = header
    return header


def _body(data: Any, content_type: str | None) -> tuple[bytes, str]:
    """``bytes``/``str`` sent as is; anything else as JSON."""
    if isinstance(data, bytes | bytearray):
        return bytes(data), content_type or "application/octet-stream"
    if isinstance(data, str):
        return data.encode(), content_type or "text/plain"
    return to_json_bytes(data), content_type or "application/json"


class AsyncClient(StateAPI):
    """The async client: one pooled connection set to the sidecar.

    Example::

        async with AsyncClient() as client:  # waits for the sidecar to be ready
            await client.save_state("statestore", "order-1", {"qty": 2})
            await client.publish("pubsub", "orders", {"id": 1})

    The address and token come from ``DAPR_HTTP_ENDPOINT`` / ``DAPR_HTTP_PORT`` and
    ``DAPR_API_TOKEN`` unless given (see ``Transport``).
    """

    # ---- pub/sub --------------------------------------------------------------------------

    async def publish(
        self,
        pubsub: str,
        topic: str,
        data: Any,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Publish one event: ``bytes``/``str`` as is, anything else (dataclasses too) as JSON.

        Example::

            await client.publish("pubsub", "orders", {"id": 1}, metadata={"ttlInSeconds": "60"})
        """
        path = _publish_path(pubsub, topic)
        body, ctype = _body(data, content_type)
        await self.call(
            "POST",
            path,
            body=body,
            headers=_content_type_header(ctype),
            params=meta_params(metadata) if metadata else None,
        )

    async def publish_bulk(
        self,
        pubsub: str,
        topic: str,
        messages: Sequence[BulkMessage],
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> list[FailedEntry]:
        """Publish several events in one call; returns the entries that failed (empty: all ok)."""
        check_name("pubsub", pubsub)
        check_name("topic", topic)
        entries = []
        for m in messages:
            check_name("entry_id", m.entry_id)
            raw, ctype = _body(m.data, m.content_type)
            if isinstance(m.data, bytes | bytearray):
                event: Any = base64.b64encode(raw).decode()
            elif isinstance(m.data, str):
                event = m.data
            else:
                event = json.loads(raw)
            entry: dict[str, Any] = {"entryId": m.entry_id, "event": event, "contentType": ctype}
            if m.metadata:
                entry["metadata"] = dict(m.metadata)
            entries.append(entry)
        try:
            await self.call(
                "POST",
                f"/v1.0-alpha1/publish/bulk/{quote(pubsub, safe='')}/{quote(topic)}",
                body=to_json_bytes(entries),
                headers={"Content-Type": "application/json"},
                params=meta_params(metadata),
            )
        except TandemError as err:
            try:
                doc = json.loads(err.body)
                failed = [
                    FailedEntry(f["entryId"], f.get("error", "")) for f in doc["failedEntries"]
                ]
            except (ValueError, KeyError, TypeError):
                raise err from None
            return failed
        return []

    # ---- secrets --------------------------------------------------------------------------

    async def get_secret(
        self, store: str, key: str, *, metadata: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """One secret (a secret may hold several named values).

        Example::

            api_key = (await client.get_secret("secretstore", "payments"))["apiKey"]
        """
        path = f"/v1.0/secrets/{quote(check_name('store', store), safe='')}/"
        _, _, data = await self.call(
            "GET", path + quote(check_name("key", key), safe=""), params=meta_params(metadata)
        )
        result: dict[str, str] = json.loads(data)
        return result

    async def get_bulk_secret(
        self, store: str, *, metadata: Mapping[str, str] | None = None
    ) -> dict[str, dict[str, str]]:
        """Every secret the app may read from ``store``."""
        path = f"/v1.0/secrets/{quote(check_name('store', store), safe='')}/bulk"
        _, _, data = await self.call("GET", path, params=meta_params(metadata))
        result: dict[str, dict[str, str]] = json.loads(data)
        return result

    # ---- configuration --------------------------------------------------------------------

    async def get_configuration(
        self,
        store: str,
        keys: Sequence[str] = (),
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, ConfigurationItem]:
        """Configuration items by key (every item when ``keys`` is empty)."""
        params = [("key", check_name("key", k)) for k in keys]
        params += list(meta_params(metadata).items())
        status, _, data = await self.call(
            "GET",
            f"/v1.0/configuration/{quote(check_name('store', store), safe='')}",
            params=params,
        )
        if status == 204 or not data:
            return {}
        return {
            k: ConfigurationItem(
                value=v.get("value", ""),
                version=v.get("version", ""),
                metadata=v.get("metadata") or {},
            )
            for k, v in json.loads(data).items()
        }

    async def subscribe_configuration(
        self,
        store: str,
        keys: Sequence[str] = (),
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict[str, ConfigurationItem]]:
        """Each change of the watched items, over gRPC (extra ``tandem-sdk[grpc]``).

        Stop by leaving the loop (the stream is closed, which unsubscribes).

        Example::

            async for changed in client.subscribe_configuration("configstore", ["limit"]):
                print(changed["limit"].value)
        """
        check_name("store", store)
        for k in keys:
            check_name("key", k)
        channel = open_channel(self.grpc_address)
        try:
            async for items in config_stream(
                channel, self._headers, store, keys, _checked(metadata)
            ):
                yield items
        finally:
            await channel.close(None)

    def subscribe(
        self,
        pubsub: str,
        topic: str,
        *,
        metadata: Mapping[str, str] | None = None,
        dead_letter_topic: str | None = None,
    ) -> TopicSubscription:
        """A streaming subscription over gRPC, with no app port (extra ``tandem-sdk[grpc]``).

        Example::

            async with client.subscribe("pubsub", "orders") as sub:
                async for event in sub:
                    print(event.data)
                    await sub.respond(event, Status.SUCCESS)
        """
        check_name("pubsub", pubsub)
        check_name("topic", topic)
        meta_params(metadata)
        return TopicSubscription(
            channel=open_channel(self.grpc_address),
            token=self._headers,
            pubsub=pubsub,
            topic=topic,
            metadata=dict(metadata or {}),
            dead_letter_topic=dead_letter_topic,
        )

    # ---- service invocation ---------------------------------------------------------------

    def _invoke_args(
        self, app_id: str, path: str, data: Any, json_: Any, content_type: str | None
    ) -> tuple[str, bytes | None, dict[str, str]]:
        check_name("app_id", app_id)
        if data is not None and json_ is not None:
            raise InvalidArgument("give data= or json=, not both")
        url = f"/v1.0/invoke/{quote(app_id, safe='')}/method/{quote(path.lstrip('/'))}"
        headers: dict[str, str] = {}
        body: bytes | None = None
        if json_ is not None:
            body, headers["Content-Type"] = to_json_bytes(json_), "application/json"
        elif data is not None:
            body, headers["Content-Type"] = _body(data, content_type)
        return url, body, headers

    async def invoke(
        self,
        app_id: str,
        path: str,
        *,
        data: bytes | str | None = None,
        json: Any = None,
        method: str = "POST",
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> InvokeResponse:
        """Call ``path`` on app ``app_id`` through the sidecars; the app's answer.

        An app answer of 4xx/5xx raises ``TandemError`` with its status.

        Example::

            resp = await client.invoke("orders", "place", json={"item": "tea"}, method="POST")
            print(resp.json())
        """
        url, body, hdrs = self._invoke_args(app_id, path, data, json, content_type)
        status, resp_headers, payload = await self.call(
            method, url, body=body, headers={**hdrs, **(headers or {})}, params=query
        )
        return InvokeResponse(status, dict(resp_headers), payload)

    @asynccontextmanager
    async def invoke_stream(
        self,
        app_id: str,
        path: str,
        *,
        data: bytes | str | None = None,
        json: Any = None,
        method: str = "POST",
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> AsyncIterator[StreamingResponse]:
        """Like ``invoke``, with the answer's body streamed.

        Example::

            async with client.invoke_stream("orders", "export", method="GET") as resp:
                async for chunk in resp:
                    sink.write(chunk)
        """
        url, body, hdrs = self._invoke_args(app_id, path, data, json, content_type)
        try:
            async with self.session().request(
                method,
                self.address + url,
                data=body,
                headers={**hdrs, **(headers or {})},
                params=query,
            ) as resp:
                if resp.status >= 400:
                    raise error_from_response(resp.status, await resp.read())
                yield StreamingResponse(resp.status, dict(resp.headers), resp)
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise SidecarUnavailable(self.address, str(exc) or type(exc).__name__) from exc

    # ---- feature flags (OFREP) ------------------------------------------------------------

    async def get_flag_details(
        self, key: str, default: Any, *, context: Mapping[str, Any] | None = None
    ) -> FlagEvaluation:
        """A flag's evaluation with its reason and variant (OFREP); ``default`` when unset.

        Example::

            ev = await client.get_flag_details("new-pricing", False, context={"targetingKey": "u1"})
            print(ev.value, ev.reason, ev.variant)
        """
        body = to_json_bytes({"context": dict(context or {})})
        _, _, data = await self.call(
            "POST",
            f"/ofrep/v1/evaluate/flags/{quote(check_name('key', key), safe='')}",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        doc = json.loads(data)
        return FlagEvaluation(
            key=key,
            value=doc.get("value", default),
            reason=doc.get("reason", ""),
            variant=doc.get("variant"),
            metadata=doc.get("metadata") or {},
        )

    async def _typed_flag(
        self, key: str, default: T, kind: tuple[type, ...], context: Mapping[str, Any] | None
    ) -> T:
        ev = await self.get_flag_details(key, default, context=context)
        value: Any = ev.value
        if kind == (float,) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (bool not in kind and isinstance(value, bool)):
            raise TandemError(
                400,
                "TYPE_MISMATCH",
                f"flag {key!r} is {type(value).__name__}, not {kind[0].__name__}",
            )
        return cast(T, value)

    async def get_boolean(
        self, key: str, default: bool, *, context: Mapping[str, Any] | None = None
    ) -> bool:
        """A boolean flag's value (``default`` when the flag gives none).

        Example::

            if await client.get_boolean("new-pricing", False, context={"targetingKey": "u1"}):
                ...
        """
        return await self._typed_flag(key, default, (bool,), context)

    async def get_string(
        self, key: str, default: str, *, context: Mapping[str, Any] | None = None
    ) -> str:
        """A string flag's value."""
        return await self._typed_flag(key, default, (str,), context)

    async def get_int(
        self, key: str, default: int, *, context: Mapping[str, Any] | None = None
    ) -> int:
        """An integer flag's value."""
        return await self._typed_flag(key, default, (int,), context)

    async def get_float(
        self, key: str, default: float, *, context: Mapping[str, Any] | None = None
    ) -> float:
        """A number flag's value (integers widened)."""
        return await self._typed_flag(key, default, (float,), context)

    async def get_object(
        self, key: str, default: Any, *, context: Mapping[str, Any] | None = None
    ) -> Any:
        """An object (or list) flag's value."""
        return await self._typed_flag(key, default, (dict, list), context)

    # ---- metadata and lifecycle -----------------------------------------------------------

    async def get_metadata(self) -> dict[str, Any]:
        """The sidecar's metadata (app id, components, subscriptions, extended metadata)."""
        _, _, data = await self.call("GET", "/v1.0/metadata")
        result: dict[str, Any] = json.loads(data)
        return result

    async def set_metadata(self, key: str, value: str) -> None:
        """Set one extended-metadata attribute."""
        await self.call(
            "PUT", f"/v1.0/metadata/{quote(check_name('key', key), safe='')}", body=value.encode()
        )

    async def shutdown(self) -> None:
        """Ask the sidecar to shut down."""
        await self.call("POST", "/v1.0/shutdown")
