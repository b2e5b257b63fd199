"""``tandem validate`` reports a bad connection string without echoing any part of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harness import component_yaml, run_tandem

pytestmark = pytest.mark.integration

SECRET = "hunter2Secret"


def test_validate_never_prints_connection_string_values(tmp_path: Path) -> None:
    res = tmp_path / "resources"
    res.mkdir()
    pg = f"host=127.0.0.1 user=postgres password={SECRET} word dbname=test"
    (res / "pg.yaml").write_text(component_yaml("pg", "state.postgresql", {"connectionString": pg}))
    (res / "redis.yaml").write_text(
        component_yaml("rd", "state.redis", {"redisHost": f"redis://u:{SECRET}@h:6379"})
    )
    out = run_tandem(["validate", "--resources-path", str(res)], home=tmp_path / "home")
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "connectionString" in text, text
    assert "redisHost" in text, text
    assert SECRET not in text, text
