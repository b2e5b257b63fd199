"""The app as a child process: started with Dapr's environment, stopped with the sidecar."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Mapping, Sequence

from runtime.config import SidecarConfig

__all__ = [
    "AppProcess",
    "AppStartError",
    "app_environment",
    "check_app_command",
    "set_sidecar_environment",
]

log = logging.getLogger("tandem.app")


class AppStartError(Exception):
    pass


# Environment the sidecar sets for itself only: the app is forked only to exec it, so gRPC's
# fork handlers have nothing to protect, and when on they print a line to stderr at every app
# start (breaking --log-as-json). Takes effect only when set before gRPC loads.
# PYDANTIC_DISABLE_PLUGINS: the sidecar uses no pydantic plugin, and looking for them reads
# every installed package's entry points at the first model built (~13 ms of start-up here).
_SIDECAR_ONLY = {"GRPC_ENABLE_FORK_SUPPORT": "0", "PYDANTIC_DISABLE_PLUGINS": "__all__"}
_defaulted: dict[str, str] = {}


def set_sidecar_environment(environ: dict[str, str] | os._Environ[str]) -> None:
    """Set the sidecar-only defaults not already set; the app's environment leaves them out."""
    for key, value in _SIDECAR_ONLY.items():
        if key not in environ:
            environ[key] = value
            _defaulted[key] = value


def check_app_command(command: Sequence[str], env: Mapping[str, str]) -> None:
    """Raise AppStartError when the program cannot be started, so that start-up fails before
    the APIs serve (the app itself starts only once they do)."""
    program = command[0]
    if shutil.which(program, path=env.get("PATH", os.defpath)) is not None:
        return
    if os.sep not in program:
        reason = "not found on PATH"
    elif not os.path.exists(program):
        reason = "No such file or directory"
    elif os.path.isdir(program):
        reason = "is a directory"
    else:
        reason = "Permission denied (not executable)"
    raise AppStartError(f"cannot start the app command {program!r}: {reason}")


def app_environment(config: SidecarConfig, base: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if _defaulted.get(k) != v}
    env["APP_ID"] = config.app_id
    env["DAPR_HTTP_PORT"] = str(config.http_port)
    env["DAPR_GRPC_PORT"] = str(config.grpc_port)
    if config.app_port is not None:
        env["APP_PORT"] = str(config.app_port)
    if config.enable_metrics:
        env["DAPR_METRICS_PORT"] = str(config.metrics_port)
    if config.api_token:
        env["DAPR_API_TOKEN"] = config.api_token
    return env


class AppProcess:
    def __init__(self, config: SidecarConfig) -> None:
        self._config = config
        self._proc: asyncio.subprocess.Process | None = None
        self._signalled = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        command = self._config.app_command
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command, env=app_environment(self._config, os.environ)
            )
        except OSError as exc:
            raise AppStartError(
                f"cannot start the app command {command[0]!r}: {exc.strerror or exc}"
            ) from exc
        log.info("app started: pid %d: %s", self._proc.pid, " ".join(command))

    async def wait(self) -> int:
        assert self._proc is not None
        return await self._proc.wait()

    def signal(self, sig: signal.Signals) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._signalled = True
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(sig)

    async def stop(self, grace: float) -> int | None:
        """SIGTERM (unless a signal was already forwarded: the app gets one signal, not a
        second one it could take for "force quit"), then SIGKILL after ``grace`` seconds; the
        exit code."""
        if self._proc is None:
            return None
        if self._proc.returncode is None:
            if not self._signalled:
                self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), timeout=grace)
            except TimeoutError:
                log.warning("app did not exit within %.1fs; killing it", grace)
                self._proc.kill()
                await self._proc.wait()
        return self._proc.returncode
