"""How daprd's command line behaves (Go's ``flag`` package), and daprd's flags Tandem accepts
without using yet.

Go's flags: ``-name`` and ``--name`` are the same; a value flag takes ``--name value`` or
``--name=value``; a boolean flag is ``--name`` (true) or ``--name=<bool>`` with the values of
``strconv.ParseBool``. ``normalise`` rewrites such a command line into what argparse reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "BOOL_LITERALS",
    "UNUSED_BOOL_FLAGS",
    "UNUSED_VALUE_FLAGS",
    "normalise",
    "parse_bool",
]

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
BOOL_LITERALS = _TRUE | _FALSE

# daprd flags Tandem accepts for compatibility but does not act on (yet): flag -> what it is for.
UNUSED_VALUE_FLAGS: dict[str, str] = {
    "--dapr-internal-grpc-listen-address": "sidecar-to-sidecar calls",
    "--dapr-public-port": "the public health port",
    "--dapr-public-listen-address": "the public health port",
    "--metrics-listen-address": "metrics (served on the first --dapr-listen-addresses)",
    "--profile-port": "profiling",
    "--unix-domain-socket": "Unix-socket APIs",
    "--dapr-block-shutdown-duration": "blocked shutdown",
    "--allowed-origins": "CORS",
    "--sentry-address": "mTLS (control plane)",
    "--control-plane-address": "the control plane",
    "--control-plane-trust-domain": "the control plane",
    "--control-plane-namespace": "the control plane",
    "--placement-host-address": "actors (placement)",
    "--scheduler-host-address": "jobs and reminders (scheduler)",
    "--scheduler-job-streams": "jobs (scheduler)",
    "--disable-init-endpoints": "skipping /dapr/config and /dapr/subscribe",
    "--hot-reload-reconcile-interval": "hot reload",
    "--app-binding-options-timeout": "input bindings",
    "--actors-disseminate-timeout": "actors",
    "--trust-anchors-file": "mTLS",
    "--kubeconfig": "Kubernetes mode",
}
UNUSED_BOOL_FLAGS: dict[str, str] = {
    "--enable-profiling": "profiling",
    "--enable-mtls": "mTLS",
    "--disable-builtin-k8s-secret-store": "Kubernetes secrets",
    "--wait": "waiting for outbound readiness",
}

_SINGLE_DASH = re.compile(r"^-[a-z][a-z0-9]*(-[a-z0-9]+)*(=.*)?$")


def parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool``: 1/t/T/TRUE/true/True and 0/f/F/FALSE/false/False."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"invalid boolean {text!r}: use true or false")


def normalise(argv: Sequence[str], bool_flags: frozenset[str]) -> list[str]:
    """Rewrite daprd-style arguments before ``--`` for argparse: ``-name`` becomes ``--name``;
    a boolean flag without ``=`` becomes ``--name=true``, or takes a following ``true`` /
    ``false`` (Tandem's earlier ``--enable-metrics false`` form)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            out.extend(argv[i - 1 :])
            break
        if _SINGLE_DASH.match(arg) and len(arg) > 2:
            arg = "-" + arg
        if arg in bool_flags:
            if i < len(argv) and argv[i] in ("true", "false"):
                arg, i = f"{arg}={argv[i]}", i + 1
            else:
                arg += "=true"
        out.append(arg)
    return out
