"""Request parsing and response encoding shared by the HTTP routes."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from aiohttp import web

from runtime.errors import Errors

__all__ = ["decode_body", "json_response", "query_metadata"]

T = TypeVar("T")
_PREFIX = "metadata."


def query_metadata(request: web.Request) -> dict[str, str]:
    """``?metadata.k=v`` → ``{"k": "v"}`` (the first value of a repeated key)."""
    out: dict[str, str] = {}
    for k, v in request.query.items():
        if k.startswith(_PREFIX) and k[len(_PREFIX) :] not in out:
            out[k[len(_PREFIX) :]] = v
    return out


async def decode_body(request: web.Request, type_: type[T]) -> T:
    """Decode the JSON body into ``type_``; malformed input is ERR_MALFORMED_REQUEST."""
    body = await request.read()
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise Errors.BODY_UNDECODABLE(detail=exc) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # msgspec raises UnicodeDecodeError for invalid UTF-8 inside a JSON string
        raise Errors.BODY_UNDECODABLE(detail=exc) from None
    except RecursionError:
        # msgspec's nesting limit (about 1,000 levels), also inside a value kept as raw JSON
        raise Errors.BODY_UNDECODABLE(detail="JSON nested too deeply") from None


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(data), content_type="application/json"
    )
