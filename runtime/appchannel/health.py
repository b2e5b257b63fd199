"""App readiness: wait for the app port, then (optionally) probe the app's health.

``AppHealth.run`` loops until cancelled, keeping ``RuntimeStatus.app_ready`` current. With no
app port there is no app channel and the app counts as ready at once (as in Dapr). Probes go
through the app channel: ``GET <health path>`` for HTTP apps, ``AppCallbackHealthCheck`` for
gRPC apps; without a channel only the port is checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from runtime.appchannel.base import AppChannel
from runtime.config import SidecarConfig
from runtime.status import RuntimeStatus

__all__ = ["AppHealth"]

log = logging.getLogger("tandem.app")
_PORT_POLL = 0.05


class AppHealth:
    def __init__(
        self, config: SidecarConfig, status: RuntimeStatus, channel: AppChannel | None = None
    ) -> None:
        self._config = config
        self._status = status
        self._channel = channel

    async def _port_open(self) -> bool:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self._config.app_channel_address, self._config.app_port),
                timeout=1.0,
            )
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _probe(self) -> bool:
        if self._channel is None:
            return await self._port_open()
        return await self._channel.health()

    async def run(self) -> None:
        cfg = self._config
        if cfg.app_port is None:
            self._status.app_ready = True
            return
        log.info("waiting on port %d for the app to listen", cfg.app_port)
        started = time.monotonic()
        while not await self._port_open():  # noqa: ASYNC110 (polling a socket)
            await asyncio.sleep(_PORT_POLL)
        log.info(
            "app is listening on port %d (after %.2fs)",
            cfg.app_port,
            time.monotonic() - started,
        )
        if not cfg.enable_app_health_check:
            self._status.app_ready = True
            return
        failures = 0
        while True:
            healthy = await self._probe()
            failures = 0 if healthy else failures + 1
            if healthy and not self._status.app_ready:
                log.info("app is healthy")
                self._status.app_ready = True
            elif failures >= cfg.app_health_threshold and self._status.app_ready:
                log.warning("app is unhealthy after %d failed probes", failures)
                self._status.app_ready = False
            await asyncio.sleep(cfg.app_health_probe_interval)
