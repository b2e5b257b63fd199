"""Two (and more) real ``tandem`` processes on one machine, sharing a TANDEM_HOME and nothing
else: they find each other through the default ``nameresolution.sqlite`` with no configuration.
Each runs ``echo_app.py`` (aiohttp) as its app. ``resiliency.yaml`` gives app ``beta`` a
timeout, a retry and a breaker; ``gamma`` is a ``dapr.ext.grpc.App`` behind its sidecar.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Sidecar, free_port

HERE = Path(__file__).resolve().parent
ECHO_APP = HERE / "echo_app.py"
GRPC_APP = HERE.parent / "apps" / "grpc_callback_app.py"

RESILIENCY = """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: invoke-policies
spec:
  policies:
    timeouts:
      short: 1s
    retries:
      twice:
        policy: constant
        duration: 10ms
        maxRetries: 2
      on503:
        policy: constant
        duration: 10ms
        maxRetries: 2
        matching:
          httpStatusCodes: "503"
    circuitBreakers:
      fragile:
        maxRequests: 1
        timeout: 2s
        trip: consecutiveFailures > 2
  targets:
    apps:
      beta:
        timeout: short
        retry: twice
      delta:
        retry: on503
      epsilon:
        circuitBreaker: fragile
"""


@dataclass
class Mesh:
    alpha: Sidecar  # the caller
    beta: Sidecar  # an HTTP callee (timeout + retries)
    gamma: Sidecar  # a gRPC callee (dapr.ext.grpc.App)
    delta: Sidecar  # retries only for 503
    epsilon: Sidecar  # circuit breaker
    grpc_log: Path
    tmp: Path  # holds the shared TANDEM_HOME (tmp / "home") and resources


def _http(app_id: str) -> dict[str, Any]:
    port = free_port()
    return {
        "app_id": app_id,
        "components": [RESILIENCY],
        "args": ["--app-port", str(port)],
        "app_command": [sys.executable, str(ECHO_APP), str(port)],
    }


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    tmp = tmp_path_factory.mktemp("mesh")
    grpc_port, grpc_log, healthy = free_port(), tmp / "grpc.jsonl", tmp / "healthy"
    healthy.touch()
    gamma = {
        "app_id": "gamma",
        "components": [RESILIENCY],
        "args": ["--app-port", str(grpc_port), "--app-protocol", "grpc"],
        "app_command": [sys.executable, str(GRPC_APP), str(grpc_port), str(grpc_log), str(healthy)],
    }
    specs = [_http("alpha"), _http("beta"), gamma, _http("delta"), _http("epsilon")]
    with contextlib.ExitStack() as stack:
        # one at a time: Sidecar.start retries on a port another process took meanwhile
        sidecars = [stack.enter_context(Sidecar.start(tmp, **spec)) for spec in specs]
        for sidecar in sidecars:
            sidecar.wait_ready()
        alpha, beta, gamma_, delta, epsilon = sidecars
        yield Mesh(alpha, beta, gamma_, delta, epsilon, grpc_log=grpc_log, tmp=tmp)
