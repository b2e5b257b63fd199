"""``flags.configuration``: flags kept in a configuration store, served and pushed on change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.flags._support import flag_document
from tests.integration.harness import Sidecar, component_yaml, run_tandem, wait_until

pytestmark = pytest.mark.integration


def write_items(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"flags": {"value": json.dumps(document), "version": "1"}}))
    tmp.replace(path)


def value(sc: Sidecar, key: str) -> Any:
    r = sc.request("POST", f"/ofrep/v1/evaluate/flags/{key}", "{}")
    return json.loads(r.body).get("value")


def test_flags_from_a_configuration_store_follow_its_changes(tmp_path: Path) -> None:
    items = tmp_path / "configuration.yaml"
    write_items(items, flag_document())
    resources = [
        component_yaml(
            "config", "configuration.file", {"path": str(items), "pollInterval": "50ms"}
        ),
        component_yaml("flags", "flags.configuration", {"store": "config", "key": "flags"}),
    ]
    with Sidecar.start(tmp_path, components=resources) as sc:
        assert value(sc, "string-flag") == "red"
        changed = flag_document()
        changed["flags"]["string-flag"]["defaultVariant"] = "blue"
        write_items(items, changed)
        assert wait_until(lambda: value(sc, "string-flag") == "blue", 5)
        items.write_text(json.dumps({"flags": {"value": "{broken", "version": "2"}}))
        assert sc.wait_for_log("keeping the last good ones")
        assert value(sc, "string-flag") == "blue"


@pytest.mark.parametrize(
    ("flags_metadata", "message"),
    [
        ({"store": "absent"}, "no configuration store named 'absent'"),
        ({"store": "config", "key": "nope"}, "item 'nope': no such item"),
    ],
)
def test_a_missing_store_or_item_stops_start_up(
    tmp_path: Path, flags_metadata: dict[str, str], message: str
) -> None:
    items = tmp_path / "configuration.yaml"
    write_items(items, flag_document())
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "a.yaml").write_text(
        component_yaml("config", "configuration.file", {"path": str(items)})
    )
    (resources / "b.yaml").write_text(
        component_yaml("flags", "flags.configuration", flags_metadata)
    )
    result = run_tandem(["run", "--app-id", "x", "--resources-path", str(resources)], home=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
