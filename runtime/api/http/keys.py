"""The typed application key through which handlers reach the services."""

from __future__ import annotations

from aiohttp import web

from runtime.services import Services

__all__ = ["SERVICES"]

SERVICES = web.AppKey("services", Services)
