"""Private broker processes for outage and crash tests: a server on a free port that a test may
stop and start again without touching the shared servers on the default ports."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.integration.harness import free_port

__all__ = ["PrivateServer", "reachable"]


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PrivateServer:
    """``command`` (with ``{port}`` and ``{dir}`` filled in) run as a child process.

    ``start()`` waits until the port accepts connections; ``stop()`` kills it (SIGKILL: an
    outage, not a shutdown) and waits until the port is closed. The port and data folder stay
    the same across restarts.
    """

    def __init__(self, command: Sequence[str], folder: Path, config: str | None = None) -> None:
        if shutil.which(command[0]) is None:
            pytest.skip(f"{command[0]} is not installed")
        self.port = free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        if config is not None:
            (folder / "server.conf").write_text(config.format(port=self.port, dir=folder))
        self._command = [part.format(port=self.port, dir=folder) for part in command]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, within: float = 15.0) -> None:
        with (self.folder / "server.log").open("ab") as log:
            self._process = subprocess.Popen(self._command, stdout=log, stderr=log)
        deadline = time.monotonic() + within
        while not reachable(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{self._command[0]} did not start: see {self.folder}/server.log")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)
        deadline = time.monotonic() + 10
        while reachable(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)
