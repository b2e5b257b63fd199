"""Fuzz suite settings and the end-of-run summary table (requests and 5xx per route).

``TANDEM_FUZZ_BUDGET``: seconds of fuzzing per backend and protocol (default 8: the whole suite
stays under two minutes); ``TANDEM_FUZZ_SEED``: the seed (default fixed, so CI runs the same
requests; ``random`` picks one, printed on failure); ``TANDEM_FUZZ_REPORT``: a path to write
the figures to as JSON.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.fuzz._stats import STATS, table, write_report

DEFAULT_BUDGET = 8.0
DEFAULT_SEED = 20261202


def budget() -> float:
    return float(os.environ.get("TANDEM_FUZZ_BUDGET", DEFAULT_BUDGET))


def seed() -> int:
    raw = os.environ.get("TANDEM_FUZZ_SEED", "")
    if raw == "random":
        return random.SystemRandom().randrange(2**32)
    return int(raw) if raw else DEFAULT_SEED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STATS:
        return
    terminalreporter.section("fuzz: requests and outcomes per route")
    for line in table():
        terminalreporter.write_line(line)
    write_report()
