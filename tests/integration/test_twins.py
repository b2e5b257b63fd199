"""In each twin folder, ``test_http.py`` and ``test_grpc.py`` have the same cases, in order.

A block whose API is served over both protocols tests each case over both, under one name
(service invocation is not a twin: some of its cases exist over one protocol only).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HERE = Path(__file__).parent
TWINS = ("configuration", "secrets", "state")


def _cases(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    ]


@pytest.mark.parametrize("folder", TWINS)
def test_twin_modules_have_identical_cases(folder: str) -> None:
    http, grpc = _cases(HERE / folder / "test_http.py"), _cases(HERE / folder / "test_grpc.py")
    assert len(http) == len(set(http))
    assert http == grpc, set(http) ^ set(grpc)
