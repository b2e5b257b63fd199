"""Which headers cross the app channel, as HTTP headers or as gRPC metadata."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from runtime.appchannel.base import API_TOKEN_HEADER, Headers

__all__ = ["grpc_metadata", "http_headers", "response_headers"]

# Hop-by-hop (RFC 9110 §7.6.1) and framing headers: the transport sets its own.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "http2-settings",
    }
)
# Never forwarded to the app: the caller's token for the sidecar is not the app's.
_DROPPED_REQUEST = _HOP_BY_HOP | {API_TOKEN_HEADER}
# gRPC reserves these; grpcio rejects or overrides them.
_GRPC_RESERVED = frozenset({"content-type", "user-agent", "te", "grpc-timeout"})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_GRPC_KEY = re.compile(r"^[0-9a-z_.\-]+$")
_PRINTABLE = re.compile(r"^[\x20-\x7e\t]*$")


def http_headers(
    headers: Iterable[tuple[str, str]],
    *,
    content_type: str = "",
    app_token: str | None = None,
) -> list[tuple[str, str]]:
    """Request headers for an HTTP app: the caller's (hop-by-hop and invalid ones dropped),
    ``Content-Type`` when given, and the app token."""
    out = [
        (name, value)
        for name, value in headers
        if name.lower() not in _DROPPED_REQUEST
        and not name.startswith(":")
        and _TOKEN.match(name)
        and "\r" not in value
        and "\n" not in value
    ]
    if content_type:
        out = [(n, v) for n, v in out if n.lower() != "content-type"]
        out.append(("Content-Type", content_type))
    if app_token:
        out.append((API_TOKEN_HEADER, app_token))
    return out


def grpc_metadata(
    headers: Iterable[tuple[str, str]] | Mapping[str, str], *, app_token: str | None = None
) -> tuple[tuple[str, str], ...]:
    """Call metadata for a gRPC app: lower-case keys, printable ASCII values, no reserved or
    hop-by-hop keys, plus the app token."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out = []
    for name, value in pairs:
        key = name.lower()
        if (
            key in _DROPPED_REQUEST
            or key in _GRPC_RESERVED
            or key.startswith(("grpc-", ":"))
            or key.endswith("-bin")
            or not _GRPC_KEY.match(key)
            or not _PRINTABLE.match(value)
        ):
            continue
        out.append((key, value))
    if app_token:
        out.append((API_TOKEN_HEADER, app_token))
    return tuple(out)


def response_headers(headers: Iterable[tuple[str, str]]) -> Headers:
    """The app's response headers without the hop-by-hop ones."""
    return tuple((n, v) for n, v in headers if n.lower() not in _HOP_BY_HOP)
