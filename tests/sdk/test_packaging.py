"""The SDK stands alone: it imports only aiohttp, and the runtime never imports it."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.integration.harness import REPO_ROOT


def test_sdk_imports_nothing_of_the_runtime_and_no_optional_dependency() -> None:
    code = (
        "import sys, tandem, tandem.app, tandem.testing, tandem.errors\n"
        "bad = [m for m in ('runtime', 'components', 'protos', 'msgspec', 'grpc', 'openfeature')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(REPO_ROOT / 'sdk')!r})\n{code}",
        ],
        capture_output=True,
        text=True,
        cwd="/",
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_runtime_never_imports_the_sdk() -> None:
    pattern = re.compile(r"^\s*(from tandem[ .]|import tandem\b)", re.M)
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for folder in ("runtime", "components", "protos")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text(errors="replace"))
    ]
    assert offenders == []
