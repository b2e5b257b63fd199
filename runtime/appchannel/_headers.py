"""Which headers cross the app channel, as HTTP headers or as gRPC metadata."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from runtime.appchannel.base import API_TOKEN_HEADER, Headers

__all__ = [
    "forwarded_name",
    "grpc_metadata",
    "hop_by_hop",
    "http_headers",
    "is_content_type",
    "response_headers",
]

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


@lru_cache(maxsize=1024)
def forwarded_name(name: str) -> bool:
    """A request header name that may cross to an HTTP app (decided once per name)."""
    return (
        name.lower() not in _DROPPED_REQUEST
        and not name.startswith(":")
        and _TOKEN.match(name) is not None
    )


@lru_cache(maxsize=1024)
def is_content_type(name: str) -> bool:
    """``Content-Type`` in any case (decided once per spelling)."""
    return name.lower() == "content-type"


def http_headers(
    headers: Iterable[tuple[str, str]],
    *,
    content_type: str = "",
    app_token: str | None = None,
) -> list[tuple[str, str]]:
    """Request headers for an HTTP app: the caller's (hop-by-hop and invalid ones dropped),
    ``Content-Type`` when given, and the app token."""
    forwarded = forwarded_name
    if content_type:
        is_type = is_content_type
        out = [
            (name, value)
            for name, value in headers
            if forwarded(name) and not is_type(name) and "\r" not in value and "\n" not in value
        ]
        out.append(("Content-Type", content_type))
    else:
        out = [
            (name, value)
            for name, value in headers
            if forwarded(name) and "\r" not in value and "\n" not in value
        ]
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


@lru_cache(maxsize=1024)
def hop_by_hop(name: str) -> bool:
    """A hop-by-hop or framing header (never passed on; decided once per name)."""
    return name.lower() in _HOP_BY_HOP


def response_headers(headers: Iterable[tuple[str, str]]) -> Headers:
    """The app's response headers without the hop-by-hop ones."""
    hop = hop_by_hop
    return tuple([(n, v) for n, v in headers if not hop(n)])
