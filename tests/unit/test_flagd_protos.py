"""protos/flagd: wire-compatible with the flagd protos the OpenFeature flagd provider ships.

Both sets declare the same symbols (``flagd.evaluation.v1.ResolveBooleanRequest``...), so each
is described in its own subprocess (the same descriptor dump as tests/unit/test_protos.py),
then compared field by field: names, numbers, types, labels, oneofs, proto3 presence, and
every RPC's types and streaming.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from typing import Any

import pytest

from tests.unit.test_protos import DUMP_DESCRIPTORS, REPO_ROOT

# Not imported here: this process may hold Tandem's flagd modules (same symbols).
try:
    importlib.metadata.version("openfeature-provider-flagd")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("openfeature-provider-flagd is not installed", allow_module_level=True)


_MODULES = ("evaluation.v1.evaluation_pb2", "evaluation.v2.evaluation_pb2", "sync.v1.sync_pb2")
# The same dump, over named modules (the provider's schema package is not walkable).
_DUMP = DUMP_DESCRIPTORS.replace(
    "for module in pb2_modules(sys.argv[1]):",
    "for module in map(importlib.import_module, sys.argv[1:]):",
)


def _describe(package: str) -> dict[str, Any]:
    assert _DUMP != DUMP_DESCRIPTORS
    out = subprocess.run(
        [sys.executable, "-c", _DUMP, *(f"{package}.{m}" for m in _MODULES)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    described: dict[str, Any] = json.loads(out.stdout)
    for kind in ("messages", "services"):
        for entry in described[kind].values():
            entry.pop("file", None)  # the file paths differ (protos/flagd/... vs openfeature/...)
    return described


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    return _describe("protos.flagd")


@pytest.fixture(scope="module")
def official() -> dict[str, Any]:
    return _describe("openfeature.schemas.protobuf.flagd")


@pytest.mark.parametrize("kind", ["messages", "services"])
def test_flagd_protos_match_the_providers(
    ours: dict[str, Any], official: dict[str, Any], kind: str
) -> None:
    assert set(ours[kind]) == set(official[kind])
    for name, entry in official[kind].items():
        assert ours[kind][name] == entry, name
