"""Every ``tandem run`` flag is documented in the README: in the flag table, or in the list of
daprd flags accepted but not used yet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.config import build_parser

README = Path(__file__).resolve().parents[3] / "README.md"


def _run_flags(capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The options ``tandem run --help`` lists (lines that start with an option)."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    lines = capsys.readouterr().out.splitlines()
    options = [line.strip().split("  ")[0] for line in lines if line.startswith("  -")]
    return {f for line in options for f in re.findall(r"--[a-z0-9][a-z0-9-]*", line)} - {"--help"}


def test_every_run_flag_is_in_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text()
    section = text[text.index("| flag | default | meaning |") : text.index("`tandem validate")]
    documented = set(re.findall(r"(?<![\w-])--[a-z0-9][a-z0-9-]*", section))
    flags = _run_flags(capsys)
    assert "--app-max-concurrency" in flags  # the parse found the real flags
    assert flags - documented == set()
