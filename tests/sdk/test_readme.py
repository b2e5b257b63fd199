"""The README's SDK section: every ```python block runs, in order, against a real sidecar.

Blocks share one namespace (as a reader would paste them into one session); top-level
``await`` is allowed. A block marked ``# needs: <block>`` is skipped, naming the block, when
the sidecar does not serve that API.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from tandem.app import App, Response

from runtime.catalog import CATALOG
from tests.integration.harness import REPO_ROOT, Sidecar, component_yaml, http_request
from tests.sdk._appserver import serve

pytestmark = pytest.mark.integration


def _blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    start = text.index("\n## SDK\n")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


BLOCKS = _blocks()
MODULE = types.ModuleType("tandem_readme")  # a real module, so dataclasses resolve in it
sys.modules[MODULE.__name__] = MODULE
NAMESPACE: dict[str, Any] = MODULE.__dict__
_PROBES = {
    "invocation": ("POST", "/v1.0/invoke/orders/method/x"),
    "flags": ("POST", "/ofrep/v1/evaluate/flags/x"),
}


class _ReadmeApp(App):
    """Delegates to the ``app`` the README's blocks define (404 until they have)."""

    async def handle(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        app = NAMESPACE.get("app")
        if not isinstance(app, App):
            return Response(b"", 404)
        return await app.handle(method, path, headers, body, query)


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("readme")
    config = tmp / "config.yaml"
    config.write_text('checkout.limit: "100"\n')
    comps = [
        component_yaml("statestore"),
        component_yaml("pubsub", "pubsub.in-memory"),
        component_yaml("secretstore", "secretstores.local.env", {"prefix": "README_"}),
        component_yaml("configstore", "configuration.file", {"path": str(config)}),
    ]
    if any(e.type == "flags.file" for e in CATALOG):  # the flags block, where it exists
        flags = tmp / "flags.json"
        flags.write_text(
            '{"flags": {"new-pricing": {"state": "ENABLED", "variants": {"on": true, "off": false},'
            ' "defaultVariant": "off"}}}'
        )
        comps.append(component_yaml("flags", "flags.file", {"path": str(flags)}))
    env = {"README_payments": "k-1"}
    # the snippets' gRPC streams find the sidecar through DAPR_GRPC_PORT
    # The app id is "orders" and its app port serves the README's own ``App`` (once a block
    # has defined it), so the invocation snippet reaches the ``place`` handler it declares.
    with (
        serve(_ReadmeApp()) as port,
        Sidecar.start(
            tmp, components=comps, app_id="orders", env=env, args=["--app-port", str(port)]
        ) as sc,
    ):
        yield sc


def test_the_section_has_snippets() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
async def test_snippet_runs(index: int, sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch) -> None:
    code = BLOCKS[index]
    need = re.search(r"# needs: (\w+)", code)
    if need:
        method, path = _PROBES[need.group(1)]
        resp = http_request(sidecar.http_port, method, path, b"{}")
        if resp.status == 404 and b"no API route" in resp.body:
            pytest.skip(f"the sidecar does not serve {need.group(1)} yet ({path})")
    monkeypatch.delenv("DAPR_HTTP_ENDPOINT", raising=False)
    monkeypatch.setenv("DAPR_HTTP_PORT", str(sidecar.http_port))
    monkeypatch.setenv("DAPR_GRPC_PORT", str(sidecar.grpc_port))
    compiled = compile(code, f"README.md SDK block {index}", "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, NAMESPACE)
    if result is not None:
        await result
