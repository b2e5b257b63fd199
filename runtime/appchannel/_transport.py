"""HTTP transports for the app channel: ``H1Transport`` (HTTP/1.1, http and https; the lean
client of ``_h1``, which replaced aiohttp's ``ClientSession`` here) and httpx (h2c).

A transport sends one request and returns as soon as the response headers are in; the body
streams from ``Reply.body`` until ``Reply.close()``. Transport failures raise AppChannelError.
Bodies pass through as bytes: no decompression, no cookies, no default headers added.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from runtime.appchannel import _h1
from runtime.appchannel.base import AppChannelError, Body, Headers

if TYPE_CHECKING:
    import httpx

__all__ = ["H1Transport", "HttpxH2CTransport", "Reply", "Transport"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Headers
    body: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]]
    complete: bytes | None = None  # the whole body, when it arrived with the headers


class Transport(Protocol):
    async def send(
        self, verb: str, url: str, headers: list[tuple[str, str]], body: Body
    ) -> Reply: ...

    async def aclose(self) -> None: ...


@lru_cache(maxsize=64)
def _split(url: str) -> tuple[str, str, int, str]:
    """``scheme://host:port/path?query`` → scheme, host, port, target (cached per URL)."""
    scheme, _, rest = url.partition("://")
    authority, slash, target = rest.partition("/")
    host, _, port = authority.rpartition(":")
    if not host or not port.isdigit():
        host, port = authority, "443" if scheme == "https" else "80"
    return scheme, host.strip("[]"), int(port), slash + target if slash else "/"


def _unverified() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class H1Transport:
    """Pooled keep-alive HTTP/1.1 connections to the app (one pool per host). TLS to the app
    is not verified, as in Dapr (the app is local and typically self-signed)."""

    def __init__(self, *, limit: int, keepalive: float = 15.0) -> None:
        self._limit = limit
        self._keepalive = keepalive
        self._pools: dict[tuple[str, str, int], _h1.Pool] = {}

    def _pool(self, scheme: str, host: str, port: int) -> _h1.Pool:
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _h1.Pool(
                host,
                port,
                ssl=_unverified() if scheme == "https" else None,
                limit=self._limit,
                keepalive=self._keepalive,
                connect_timeout=None,
            )
        return pool

    async def send(self, verb: str, url: str, headers: list[tuple[str, str]], body: Body) -> Reply:
        base, mark, query = url.partition("?")
        scheme, host, port, target = _split(base)
        if mark:
            target = f"{target}?{query}"
        try:
            resp = await self._pool(scheme, host, port).request(verb, target, headers, body)
        except (_h1.H1Error, OSError, ValueError) as exc:
            raise AppChannelError(f"{verb} {url}: {str(exc) or type(exc).__name__}") from exc
        complete = resp.complete

        async def close() -> None:
            resp.close()

        if complete is not None:
            return Reply(resp.status, tuple(resp.headers), _once(complete), close, complete)
        return Reply(resp.status, tuple(resp.headers), _chunks(resp, verb, url), close)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()


async def _chunks(resp: _h1.Response, verb: str, url: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.chunks():
            yield chunk
    except _h1.H1Error as exc:
        raise AppChannelError(f"{verb} {url}: {exc}") from exc


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class HttpxH2CTransport:
    """HTTP/2 over cleartext with prior knowledge (``--app-protocol h2c``), via httpx + h2."""

    def __init__(self, *, limit: int) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise AppChannelError(
                "--app-protocol h2c needs httpx with HTTP/2: pip install 'tandem[h2c]'"
            ) from exc
        self._httpx = httpx
        self._client = httpx.AsyncClient(
            http1=False,
            http2=True,
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
            timeout=httpx.Timeout(None),
            follow_redirects=False,
            trust_env=False,
        )
        for name in ("accept", "accept-encoding", "connection", "user-agent"):
            self._client.headers.pop(name, None)

    async def send(self, verb: str, url: str, headers: list[tuple[str, str]], body: Body) -> Reply:
        httpx = self._httpx
        request = self._client.build_request(
            verb, url, headers=headers, content=body if body != b"" else None
        )
        try:
            resp = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise AppChannelError(f"{verb} {url}: {str(exc) or type(exc).__name__}") from exc
        return Reply(resp.status_code, tuple(resp.headers.multi_items()), _raw(resp), resp.aclose)

    async def aclose(self) -> None:
        await self._client.aclose()


async def _raw(resp: httpx.Response) -> AsyncIterator[bytes]:
    import httpx

    try:
        async for chunk in resp.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        raise AppChannelError(f"reading the response: {exc}") from exc
