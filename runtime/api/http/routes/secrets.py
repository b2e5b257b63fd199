"""Secrets API routes (``/v1.0/secrets``): the adapter over ``SecretsService``.

``bulk`` is registered before ``{key}``, as in Dapr, so a secret named ``bulk`` cannot be read
over HTTP (gRPC ``GetSecret`` can).
"""

from __future__ import annotations

from aiohttp import web

from runtime.api.http.codec import json_response, query_metadata
from runtime.api.http.keys import SERVICES

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/v1.0/secrets/{secretStoreName}/bulk")
async def get_bulk_secret(request: web.Request) -> web.Response:
    found = await request.app[SERVICES].secrets.bulk(
        request.match_info["secretStoreName"], query_metadata(request)
    )
    return json_response(found)


@routes.get("/v1.0/secrets/{secretStoreName}/{key}")
async def get_secret(request: web.Request) -> web.Response:
    found = await request.app[SERVICES].secrets.get(
        request.match_info["secretStoreName"], request.match_info["key"], query_metadata(request)
    )
    return json_response(found)
