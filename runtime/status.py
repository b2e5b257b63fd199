"""Readiness flags and the shutdown request, shared by the APIs and the lifecycle."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

__all__ = ["RuntimeStatus"]


@dataclass(slots=True)
class RuntimeStatus:
    outbound_ready: bool = False  # components loaded, APIs serving
    _app_ready: bool = False  # app channel ready (port open, health checks pass)
    app_ready_changed: asyncio.Event = field(default_factory=asyncio.Event)
    shutdown_requested: asyncio.Event = field(default_factory=asyncio.Event)
    force_exit: bool = False

    @property
    def app_ready(self) -> bool:
        return self._app_ready

    @app_ready.setter
    def app_ready(self, value: bool) -> None:
        if value != self._app_ready:
            self._app_ready = value
            self.app_ready_changed.set()
            self.app_ready_changed.clear()

    @property
    def ready(self) -> bool:
        return self.outbound_ready and self.app_ready

    def request_shutdown(self, *, force: bool = False) -> None:
        self.force_exit = self.force_exit or force
        self.shutdown_requested.set()
