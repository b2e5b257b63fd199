"""Calls to peer sidecars: pooled keep-alive HTTP/1.1 connections (one pool per peer address,
the lean client of ``runtime.appchannel._h1``), bodies streamed both ways.

``send`` returns once the peer's response headers are in; the body streams from the returned
``InvokeResponse`` until it is closed. ``PeerUnreachable`` means no connection could be made, so
nothing was sent and a retry is always safe; ``PeerCallFailed`` means the call broke after it
started. With mTLS, each new connection's peer certificate must carry the SPIFFE id of the app
id called (``runtime.security.peer``); a pooled connection is reused only for that app id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import lru_cache
from urllib.parse import quote

import aiohttp
import msgspec

from components.nameresolution import Address
from runtime.appchannel import _h1
from runtime.appchannel._headers import hop_by_hop, is_content_type
from runtime.appchannel.base import InvokeRequest, InvokeResponse
from runtime.errors import TABLE, APIError
from runtime.internal import tls, wire

__all__ = ["InternalClient", "PeerCallFailed", "PeerUnreachable"]

_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_MAX_ERROR = 64 * 1024


_PREFIX_TARGET = wire.PATH_PREFIX


@lru_cache(maxsize=1024)
def _quote_path(method: str) -> str:
    return quote(method, safe=_PATH_SAFE)


# what a peer's response header is to the caller (``_response_header``)
_PASS, _DROP, _CONTENT_TYPE, _GRPC_STATUS, _DATA_TYPE, _ERROR = range(6)
_KINDS = {
    "content-type": _CONTENT_TYPE,
    wire.GRPC_STATUS: _GRPC_STATUS,
    wire.DATA_TYPE: _DATA_TYPE,
    wire.ERROR: _ERROR,
}


@lru_cache(maxsize=1024)
def _response_header(name: str) -> int:
    """Passed on, dropped (hop-by-hop), or one the caller reads (decided once per name)."""
    if hop_by_hop(name):
        return _DROP
    return _KINDS.get(name.lower(), _PASS)


async def _chunks(resp: _h1.Response, address: Address) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.chunks():
            yield chunk
    except _h1.H1Error as exc:
        raise PeerCallFailed(f"{address}: {exc}") from exc


class PeerUnreachable(ConnectionError):
    """No connection to the peer sidecar (refused, no route, TLS failure): nothing was sent."""


class PeerCallFailed(ConnectionError):
    """The connection broke after the request started."""


def _remote_error(kind_name: str, status: int, body: bytes) -> Exception:
    """The error-table entry the peer sidecar answered with (same table on both)."""
    kind = TABLE.get(kind_name)
    try:
        document = msgspec.json.decode(body[:_MAX_ERROR])
    except msgspec.DecodeError:
        document = None
    message = document.get("message") if isinstance(document, dict) else None
    if kind is None or not isinstance(message, str):
        return PeerCallFailed(f"the peer sidecar answered HTTP {status}")
    return APIError(kind, message)


async def _raise_remote(resp: aiohttp.ClientResponse) -> None:
    """``_remote_error`` for an aiohttp response (gRPC proxying's tunnel client)."""
    try:
        body = await resp.content.read(_MAX_ERROR)
    except (aiohttp.ClientError, OSError):
        body = b""
    finally:
        resp.release()
    raise _remote_error(resp.headers[wire.ERROR], resp.status, body)


async def _raise_remote_h1(resp: _h1.Response, kind_name: str) -> None:
    body = resp.complete
    try:
        if body is None:
            parts: list[bytes] = []
            size = 0
            async for chunk in resp.chunks():
                parts.append(chunk)
                size += len(chunk)
                if size >= _MAX_ERROR:
                    break
            body = b"".join(parts)
    except _h1.H1Error:
        body = b""
    finally:
        resp.close()
    raise _remote_error(kind_name, resp.status, body)


class InternalClient:
    def __init__(self, *, limit: int = 1024, connect_timeout: float = 5.0) -> None:
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._pools: dict[Address, _h1.Pool] = {}

    def _pool(self, address: Address) -> _h1.Pool:
        pool = self._pools.get(address)
        if pool is None:  # lazily: needs the running loop
            workload = tls.workload()
            identify = admit = None
            if workload is not None:
                from runtime.security.peer import PeerCheck

                check = PeerCheck(workload, str(address))
                identify, admit = check.identify, check.admit
            pool = self._pools[address] = _h1.Pool(
                address.host,
                address.port,
                ssl=tls.client_context(),
                limit=self._limit,
                keepalive=30.0,
                connect_timeout=self._connect_timeout,
                on_connect=identify,
                admit=admit,
            )
        return pool

    async def send(
        self, address: Address, request: InvokeRequest, identity: list[tuple[str, str]]
    ) -> InvokeResponse:
        """Send ``request`` (its headers already filtered) plus the ``identity`` headers."""
        headers = [*request.headers, *identity]
        verb = request.verb
        if verb is None:
            headers.append((wire.VERB, wire.VERB_NONE))
            verb = "POST"
        if request.content_type:
            headers = [(n, v) for n, v in headers if not is_content_type(n)]
            headers.append(("Content-Type", request.content_type))
        if request.data_type_url:
            headers.append((wire.DATA_TYPE, request.data_type_url))
        target = _PREFIX_TARGET + _quote_path(request.method.lstrip("/"))
        if request.query:
            target += "?" + quote(request.query, safe=_QUERY_SAFE)
        callee = next((v for n, v in identity if n == wire.CALLEE_APP_ID), None)
        try:
            resp = await self._pool(address).request(
                verb,
                target,
                headers,
                request.body,
                expect=callee,
            )
        except _h1.ConnectFailed as exc:
            raise PeerUnreachable(f"{address}: {exc}") from exc
        except (_h1.H1Error, OSError, ValueError) as exc:
            raise PeerCallFailed(f"{address}: {str(exc) or type(exc).__name__}") from exc

        grpc_status = data_type = error = content_type = ""
        out: list[tuple[str, str]] = []
        for name, value in resp.headers:
            kind = _response_header(name)
            if kind is _PASS:
                out.append((name, value))
            elif kind is _CONTENT_TYPE:
                content_type = value
                out.append((name, value))
            elif kind is _GRPC_STATUS:
                grpc_status = value
            elif kind is _DATA_TYPE:
                data_type = value
            elif kind is _ERROR:
                error = value
        if error:
            await _raise_remote_h1(resp, error)

        async def close() -> None:
            resp.close()

        complete = resp.complete
        return InvokeResponse(
            status=resp.status,
            headers=tuple(out),
            content_type=content_type,
            body=complete if complete is not None else _chunks(resp, address),
            grpc_status=int(grpc_status) if grpc_status.isdigit() else 0,
            data_type_url=data_type,
            on_close=close,
        )

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()
