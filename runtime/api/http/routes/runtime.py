"""Health, metadata and shutdown routes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from runtime.api.http.codec import json_response
from runtime.api.http.keys import SERVICES
from runtime.errors import Errors
from runtime.services.metadata import MetadataSnapshot

__all__ = ["routes", "snapshot_json"]

routes = web.RouteTableDef()


@routes.get("/v1.0/healthz/outbound")
async def healthz_outbound(request: web.Request) -> web.Response:
    if not request.app[SERVICES].status.outbound_ready:
        raise Errors.OUTBOUND_HEALTH_NOT_READY()
    return web.Response(status=204)


@routes.get("/v1.0/healthz")
async def healthz(request: web.Request) -> web.Response:
    status = request.app[SERVICES].status
    app_id = request.query.get("appid")
    if app_id is not None and app_id != request.app[SERVICES].metadata.snapshot().id:
        raise Errors.HEALTH_APPID_NOT_MATCH(app_id=app_id)
    if not status.ready:
        missing = [
            n
            for n, ok in (("outbound", status.outbound_ready), ("app", status.app_ready))
            if not ok
        ]
        raise Errors.HEALTH_NOT_READY(missing=missing)
    return web.Response(status=204)


def snapshot_json(s: MetadataSnapshot) -> dict[str, Any]:
    app = s.app_connection
    conn: dict[str, Any] = {"protocol": app.protocol, "channelAddress": app.channel_address}
    if app.port:
        conn["port"] = app.port
    if app.health_check_path:
        conn["health"] = {
            "healthCheckPath": app.health_check_path,
            "healthProbeInterval": app.health_probe_interval,
            "healthProbeTimeout": app.health_probe_timeout,
            "healthThreshold": app.health_threshold,
        }
    out: dict[str, Any] = {
        "id": s.id,
        "runtimeVersion": s.runtime_version,
        "components": [
            {
                "name": c.name,
                "type": c.type,
                "version": c.version,
                "capabilities": list(c.capabilities),
            }
            for c in s.components
        ],
        "extended": dict(s.extended),
        "appConnectionProperties": conn,
    }
    if s.enabled_features:
        out["enabledFeatures"] = list(s.enabled_features)
    if s.subscriptions:
        out["subscriptions"] = [
            {
                "pubsubname": sub.pubsub_name,
                "topic": sub.topic,
                "metadata": dict(sub.metadata),
                "rules": [{"match": match, "path": path} for match, path in sub.rules],
                "deadLetterTopic": sub.dead_letter_topic,
                "type": sub.type,
            }
            for sub in s.subscriptions
        ]
    return out


@routes.get("/v1.0/metadata")
async def get_metadata(request: web.Request) -> web.Response:
    return json_response(snapshot_json(request.app[SERVICES].metadata.snapshot()))


@routes.put("/v1.0/metadata/{key}")
async def put_metadata(request: web.Request) -> web.Response:
    value = (await request.read()).decode("utf-8", "replace")
    request.app[SERVICES].metadata.set_attribute(request.match_info["key"], value)
    return web.Response(status=204)


@routes.post("/v1.0/shutdown")
async def shutdown(request: web.Request) -> web.Response:
    force = request.headers.get("dapr-force-shutdown", "").lower() == "true"
    request.app[SERVICES].status.request_shutdown(force=force)
    return web.Response(status=204)
