"""Typed application keys for what handlers need."""

from __future__ import annotations

from aiohttp import web

from runtime.services.metadata import MetadataService
from runtime.services.state import StateService
from runtime.status import RuntimeStatus

__all__ = ["METADATA", "STATE", "STATUS"]

STATE = web.AppKey("state", StateService)
METADATA = web.AppKey("metadata", MetadataService)
STATUS = web.AppKey("status", RuntimeStatus)
