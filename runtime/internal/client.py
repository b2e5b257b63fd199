"""Calls to peer sidecars: one pooled keep-alive session, bodies streamed both ways.

``send`` returns once the peer's response headers are in; the body streams from the returned
``InvokeResponse`` until it is closed. ``PeerUnreachable`` means no connection could be made, so
nothing was sent and a retry is always safe; ``PeerCallFailed`` means the call broke after it
started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import msgspec
from multidict import CIMultiDict
from yarl import URL

from components.nameresolution import Address
from runtime.appchannel._headers import response_headers
from runtime.appchannel.base import Body, InvokeRequest, InvokeResponse
from runtime.errors import TABLE, APIError
from runtime.internal import tls, wire

__all__ = ["InternalClient", "PeerCallFailed", "PeerUnreachable"]

_CHUNK = 64 * 1024
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
_MAX_ERROR = 64 * 1024
_OURS = frozenset({wire.GRPC_STATUS, wire.DATA_TYPE, wire.ERROR})  # not for the caller


class PeerUnreachable(ConnectionError):
    """No connection to the peer sidecar (refused, no route, TLS failure): nothing was sent."""


class PeerCallFailed(ConnectionError):
    """The connection broke after the request started."""


async def _raise_remote(resp: aiohttp.ClientResponse) -> None:
    """Raise the error-table entry the peer sidecar answered with (same table on both)."""
    kind = TABLE.get(resp.headers[wire.ERROR])
    try:
        document = msgspec.json.decode(await resp.content.read(_MAX_ERROR))
    except msgspec.DecodeError:
        document = None
    finally:
        resp.release()
    message = document.get("message") if isinstance(document, dict) else None
    if kind is None or not isinstance(message, str):
        raise PeerCallFailed(f"the peer sidecar answered HTTP {resp.status}")
    raise APIError(kind, message)


class InternalClient:
    def __init__(self, *, limit: int = 1024, connect_timeout: float = 5.0) -> None:
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # lazily: needs the running loop
            ssl = tls.client_context()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._limit, ssl=ssl if ssl is not None else False, keepalive_timeout=30
                ),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def send(
        self, address: Address, request: InvokeRequest, identity: list[tuple[str, str]]
    ) -> InvokeResponse:
        """Send ``request`` (its headers already filtered) plus the ``identity`` headers."""
        headers = CIMultiDict(request.headers)
        for name, value in identity:
            headers[name] = value
        verb = request.verb
        if verb is None:
            headers[wire.VERB] = wire.VERB_NONE
            verb = "POST"
        if request.content_type:
            headers["Content-Type"] = request.content_type
        if request.data_type_url:
            headers[wire.DATA_TYPE] = request.data_type_url
        path = quote(request.method.lstrip("/"), safe=_PATH_SAFE)
        url = f"{tls.scheme()}://{address}{wire.PATH_PREFIX}{path}"
        if request.query:
            url += "?" + quote(request.query, safe=_QUERY_SAFE)
        try:
            resp = await self._client().request(
                verb,
                URL(url, encoded=True),
                headers=headers,
                data=request.body if request.body != b"" else None,
                allow_redirects=False,
            )
        except aiohttp.ClientConnectorError as exc:
            raise PeerUnreachable(f"{address}: {exc.strerror or exc}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise PeerCallFailed(f"{address}: {str(exc) or type(exc).__name__}") from exc

        if wire.ERROR in resp.headers:
            await _raise_remote(resp)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    yield chunk
            except (aiohttp.ClientError, OSError) as exc:
                raise PeerCallFailed(f"{address}: reading the response: {exc}") from exc

        async def close() -> None:
            resp.release()

        out_headers = tuple(
            (n, v) for n, v in response_headers(resp.headers.items()) if n.lower() not in _OURS
        )
        grpc_status = resp.headers.get(wire.GRPC_STATUS, "0")
        body: Body = chunks()
        if resp.content.is_eof():  # the whole body came with the headers
            body = resp.content.read_nowait(-1)
            resp.release()
        return InvokeResponse(
            status=resp.status,
            headers=out_headers,
            content_type=resp.headers.get("Content-Type", ""),
            body=body,
            grpc_status=int(grpc_status) if grpc_status.isdigit() else 0,
            data_type_url=resp.headers.get(wire.DATA_TYPE, ""),
            on_close=close,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
