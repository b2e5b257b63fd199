"""Replicas of one app id: calls are spread over them, and killing one (SIGKILL, no goodbye)
under load loses no idempotent call: an unreachable replica is skipped for another at once."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections import Counter

import pytest

from tests.integration.harness import Sidecar, free_port, http_request
from tests.integration.invoke.conftest import ECHO_APP, Mesh

pytestmark = pytest.mark.integration


def _replica(mesh: Mesh) -> contextlib.AbstractContextManager[Sidecar]:
    port = free_port()
    return Sidecar.start(
        mesh.tmp,
        app_id="omega",
        args=["--app-port", str(port)],
        app_command=[sys.executable, str(ECHO_APP), str(port)],
    )


def test_replicas_share_the_calls_and_a_killed_one_loses_no_get(mesh: Mesh) -> None:
    with _replica(mesh) as first, _replica(mesh) as second:
        first.wait_ready()
        second.wait_ready()
        hosts: Counter[str] = Counter()
        for _ in range(20):
            r = mesh.alpha.request("GET", "/v1.0/invoke/omega/method/echo")
            assert r.status == 200
            hosts[r.json()["headers"]["host"]] += 1
        assert len(hosts) == 2  # both replicas answered

        statuses: Counter[int] = Counter()
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                r = http_request(
                    mesh.alpha.http_port, "GET", "/v1.0/invoke/omega/method/echo", timeout=20
                )
                statuses[r.status] += 1

        workers = [threading.Thread(target=load) for _ in range(4)]
        for w in workers:
            w.start()
        try:
            while sum(statuses.values()) < 50:
                stop.wait(0.01)
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait()
            done = sum(statuses.values())
            while sum(statuses.values()) < done + 100:
                stop.wait(0.01)
        finally:
            stop.set()
            for w in workers:
                w.join()
        assert set(statuses) == {200}, statuses
