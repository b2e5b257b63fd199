"""``test_http.py`` and ``test_grpc.py`` are twins: every case exists over both protocols."""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent


def _cases(module: str) -> list[str]:
    tree = ast.parse((HERE / module).read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


def test_twin_modules_have_identical_cases() -> None:
    http, grpc = _cases("test_http.py"), _cases("test_grpc.py")
    assert len(http) == len(set(http))
    assert http == grpc, set(http) ^ set(grpc)
