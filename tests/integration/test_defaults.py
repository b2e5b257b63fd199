"""Where components come from without --resources-path: $TANDEM_HOME/components when it
exists, else the embedded defaults (``statestore``: SQLite in $TANDEM_HOME/data/state.db, and
``pubsub``: SQLite in $TANDEM_HOME/data/pubsub.db)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Sidecar, component_yaml

pytestmark = pytest.mark.integration


def components(sc: Sidecar) -> list[dict[str, Any]]:
    resp = sc.request("GET", "/v1.0/metadata")
    assert resp.status == 200
    found: list[dict[str, Any]] = resp.json()["components"]
    return found


def test_embedded_defaults(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Sidecar.start(tmp_path, app_id="defaults") as sc:
        found = {c["name"]: c for c in components(sc)}
        assert sorted(found) == ["pubsub", "statestore"]
        store, pubsub = found["statestore"], found["pubsub"]
        assert (store["type"], store["version"]) == ("state.sqlite", "v1")
        assert {"ETAG", "TRANSACTIONAL"} <= set(store["capabilities"])
        assert (pubsub["type"], pubsub["version"]) == ("pubsub.sqlite", "v1")
        assert (home / "data" / "state.db").is_file()
        assert (home / "data" / "pubsub.db").is_file()
        save = sc.request("POST", "/v1.0/state/statestore", '[{"key": "k", "value": "durable"}]')
        assert save.status == 204
    assert "resources from embedded defaults" in sc.logs()
    # the data outlives the process
    with Sidecar.start(tmp_path, app_id="defaults") as again:
        got = again.request("GET", "/v1.0/state/statestore/k")
        assert (got.status, got.json()) == (200, "durable")


def test_default_home_is_dot_tandem_under_home(tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    user_home.mkdir()
    # TANDEM_HOME empty = unset: the default ~/.tandem applies
    with Sidecar.start(tmp_path, env={"TANDEM_HOME": "", "HOME": str(user_home)}) as sc:
        assert sorted(c["name"] for c in components(sc)) == ["pubsub", "statestore"]
    assert (user_home / ".tandem" / "data" / "state.db").is_file()
    assert (user_home / ".tandem" / "data" / "pubsub.db").is_file()


def test_home_components_folder_is_used_instead(tmp_path: Path) -> None:
    folder = tmp_path / "home" / "components"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text(component_yaml("mystore") + "---\n" + component_yaml("other"))
    with Sidecar.start(tmp_path) as sc:
        assert sorted(c["name"] for c in components(sc)) == ["mystore", "other"]
        assert {c["type"] for c in components(sc)} == {"state.in-memory"}
    assert not (tmp_path / "home" / "data" / "state.db").exists()
    assert f"resources from {folder}" in sc.logs()


def test_empty_home_components_folder_means_no_components(tmp_path: Path) -> None:
    (tmp_path / "home" / "components").mkdir(parents=True)
    with Sidecar.start(tmp_path) as sc:
        assert components(sc) == []
    data = tmp_path / "home" / "data"  # only the name resolution registry, no state store file
    assert {p.name for p in data.iterdir()} <= {
        "nameresolution.db",
        "nameresolution.db-wal",
        "nameresolution.db-shm",
    }


def test_resources_path_wins_over_home_components(tmp_path: Path) -> None:
    folder = tmp_path / "home" / "components"
    folder.mkdir(parents=True)
    (folder / "home.yaml").write_text(component_yaml("fromhome"))
    with Sidecar.start(tmp_path, components=[component_yaml("fromflag")]) as sc:
        assert [c["name"] for c in components(sc)] == ["fromflag"]


def test_broken_home_components_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "home" / "components"
    folder.mkdir(parents=True)
    (folder / "broken.yaml").write_text("kind: [\n")
    sc = Sidecar.spawn(tmp_path)
    try:
        assert sc.wait_exit() == 1
    finally:
        sc.stop()
    assert str(folder / "broken.yaml") in sc.logs()
