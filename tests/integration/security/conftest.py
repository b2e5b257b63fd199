"""Two real sidecars sharing a TANDEM_HOME (so one local CA), mTLS on by default.

``beta`` runs with an ``accessControl`` Configuration: ``alpha`` may call ``GET`` on
``/echo/**`` and ``/status/*`` only, everything else is denied. Its internal port is fixed so
tests can also knock on it with hand-made certificates.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.harness import Sidecar, free_port

ECHO_APP = Path(__file__).resolve().parent.parent / "invoke" / "echo_app.py"

ACL = """
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: beta-acl
spec:
  accessControl:
    defaultAction: deny
    trustDomain: public
    policies:
      - appId: alpha
        defaultAction: deny
        namespace: default
        operations:
          - name: /echo/**
            httpVerb: ["GET"]
            action: allow
          - name: /status/*
            httpVerb: ["GET"]
            action: allow
          - name: /echo/admin/**
            httpVerb: ["*"]
            action: deny
"""


@dataclass
class Pair:
    alpha: Sidecar
    beta: Sidecar
    beta_internal: int
    beta_metrics: int
    home: Path


def echo_sidecar(tmp: Path, app_id: str, *args: str) -> dict[str, object]:
    port = free_port()
    return {
        "app_id": app_id,
        "empty_resources": True,
        "args": ["--app-port", str(port), *args],
        "app_command": [sys.executable, str(ECHO_APP), str(port)],
    }


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("mtls")
    acl = tmp / "acl.yaml"
    acl.write_text(ACL)
    internal, metrics = free_port(), free_port()
    with contextlib.ExitStack() as stack:
        alpha = stack.enter_context(Sidecar.start(tmp, **echo_sidecar(tmp, "alpha")))
        beta_spec = echo_sidecar(
            tmp,
            "beta",
            "--config",
            str(acl),
            "--dapr-internal-grpc-port",
            str(internal),
            "--metrics-port",
            str(metrics),
        )
        beta = stack.enter_context(Sidecar.start(tmp, **beta_spec))
        alpha.wait_ready()
        beta.wait_ready()
        yield Pair(alpha, beta, internal, metrics, tmp / "home")
