"""The HTTP transport: sidecar address and token from Dapr's env vars, one pooled session."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp

from tandem.errors import InvalidArgument, SidecarUnavailable, error_from_response

__all__ = ["Transport", "check_name", "json_str", "meta_params", "to_json_bytes"]


def check_name(what: str, value: str) -> str:
    """``value`` if it is a non-empty string; else InvalidArgument (before any call)."""
    if not isinstance(value, str) or not value:  # type: ignore[redundant-expr]
        raise InvalidArgument(f"{what} must be a non-empty string, got {value!r}")
    return value


def meta_params(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Dapr's ``metadata.<name>`` query parameters."""
    out: dict[str, str] = {}
    if not metadata:
        return out
    for k, v in metadata.items():
        if not isinstance(v, str):
            raise InvalidArgument(f"metadata value for {k!r} must be a string, got {v!r}")
        out[f"metadata.{k}"] = v
    return out


def _default(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# One encoder for every call: json.dumps with options builds a new JSONEncoder each time.
_encode = json.JSONEncoder(separators=(",", ":"), default=_default).encode
# A str as a JSON string literal (C implementation; the same output as the encoder's).
json_str: Callable[[str], str] = json.encoder.encode_basestring_ascii


def to_json_bytes(value: object) -> bytes:
    """``value`` as compact JSON (dataclasses as objects); InvalidArgument if it cannot be."""
    try:
        return _encode(value).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"value is not JSON serializable: {exc}") from None


def _endpoint() -> str:
    endpoint = os.environ.get("DAPR_HTTP_ENDPOINT")
    if endpoint:
        return endpoint
    return f"http://127.0.0.1:{os.environ.get('DAPR_HTTP_PORT', '3500')}"


class Transport:
    """Sidecar address, token and the pooled HTTP session shared by every call.

    ``http_endpoint`` defaults to ``$DAPR_HTTP_ENDPOINT``, else
    ``http://127.0.0.1:$DAPR_HTTP_PORT`` (3500); ``api_token`` to ``$DAPR_API_TOKEN``;
    ``grpc_address`` to ``127.0.0.1:$DAPR_GRPC_PORT`` (50001). ``ready_timeout`` (default
    ``$DAPR_HEALTH_TIMEOUT`` or 60 s) is how long ``async with`` waits for the sidecar;
    ``None`` does not wait.
    """

    def __init__(
        self,
        *,
        http_endpoint: str | None = None,
        api_token: str | None = None,
        grpc_address: str | None = None,
        timeout: float = 60.0,
        ready_timeout: float | None = -1.0,
    ) -> None:
        self.address = (http_endpoint or _endpoint()).rstrip("/")
        if not self.address.startswith(("http://", "https://")):
            raise InvalidArgument(f"http_endpoint must be an http(s) URL, got {self.address!r}")
        self.grpc_address = grpc_address or (
            f"127.0.0.1:{os.environ.get('DAPR_GRPC_PORT', '50001')}"
        )
        token = api_token if api_token is not None else os.environ.get("DAPR_API_TOKEN")
        self._headers = {"dapr-api-token": token} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        if ready_timeout is not None and ready_timeout < 0:
            ready_timeout = float(os.environ.get("DAPR_HEALTH_TIMEOUT", "60"))
        self._ready_timeout = ready_timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        if self._ready_timeout is not None:
            try:
                await self.wait_for_sidecar(self._ready_timeout)
            except BaseException:
                await self.close()
                raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pooled connections (``async with`` does this)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def session(self) -> aiohttp.ClientSession:
        """The pooled session (created on first use, in the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def wait_for_sidecar(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until ``/v1.0/healthz/outbound`` answers 2xx.

        Raises ``SidecarUnavailable`` naming the address after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        url = self.address + "/v1.0/healthz/outbound"
        last = "no answer"
        while True:
            try:
                async with self.session().get(url) as resp:
                    if resp.status < 300:
                        return
                    last = f"HTTP {resp.status}"
            except (aiohttp.ClientError, OSError) as exc:
                last = str(exc) or type(exc).__name__
            if time.monotonic() >= deadline:
                raise SidecarUnavailable(self.address, f"not ready after {timeout}s ({last})")
            await asyncio.sleep(0.05)

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One request; a 4xx/5xx answer raises the matching ``TandemError``."""
        try:
            async with self.session().request(
                method, self.address + path, data=body, params=params or None, headers=headers
            ) as resp:
                data = await resp.read()
                if resp.status >= 400:
                    raise error_from_response(resp.status, data)
                return resp.status, resp.headers, data
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise SidecarUnavailable(self.address, str(exc) or type(exc).__name__) from exc
