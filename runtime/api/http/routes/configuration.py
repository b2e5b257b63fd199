"""Configuration store API routes (``/v1.0/configuration``, also under ``/v1.0-alpha1``).

Keys are repeated ``key`` query parameters (none = every item); ``metadata.<name>=<value>``
query parameters are the request metadata. Unsubscribe is a GET, as in Dapr.
"""

from __future__ import annotations

from aiohttp import web

from runtime.api.http.codec import json_response, query_metadata
from runtime.api.http.keys import SERVICES
from runtime.services.configuration import ConfigurationItem

__all__ = ["routes"]

routes = web.RouteTableDef()
_VERSIONS = ("v1.0", "v1.0-alpha1")


def _item(item: ConfigurationItem) -> dict[str, object]:
    return {"value": item.value, "version": item.version, "metadata": dict(item.metadata)}


async def get_configuration(request: web.Request) -> web.Response:
    items = await request.app[SERVICES].configuration.get(
        request.match_info["storeName"], request.query.getall("key", []), query_metadata(request)
    )
    if not items:
        return web.Response(status=204)
    return json_response({k: _item(v) for k, v in items.items()})


async def subscribe(request: web.Request) -> web.Response:
    sub_id = await request.app[SERVICES].configuration.subscribe_app(
        request.match_info["storeName"], request.query.getall("key", []), query_metadata(request)
    )
    return json_response({"id": sub_id})


async def unsubscribe(request: web.Request) -> web.Response:
    await request.app[SERVICES].configuration.unsubscribe(
        request.match_info["storeName"], request.match_info["id"]
    )
    return json_response({"ok": True})


for _version in _VERSIONS:
    _base = f"/{_version}/configuration/{{storeName}}"
    routes.get(_base)(get_configuration)
    routes.get(_base + "/subscribe")(subscribe)
    routes.get(_base + "/{id}/unsubscribe")(unsubscribe)
