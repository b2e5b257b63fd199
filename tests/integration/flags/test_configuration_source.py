"""``flags.configuration``: flags kept in a configuration store, served and pushed on change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos.dapr.runtime.v1 import configuration_pb2, dapr_pb2_grpc
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


def test_the_configuration_api_reads_flag_defaults(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(flag_document()))
    source = component_yaml("flags", "flags.file", {"path": str(path), "pollInterval": "50ms"})
    with Sidecar.start(tmp_path, components=[source]) as sc:
        query = "key=string-flag&key=int-flag&key=object-flag&key=disabled-flag&key=nope"
        r = sc.request("GET", f"/v1.0/configuration/flags?{query}")
        assert r.status == 200
        items = json.loads(r.body)
        assert set(items) == {"string-flag", "int-flag", "object-flag"}
        assert items["string-flag"]["value"] == "red"
        assert items["string-flag"]["metadata"] == {
            "variant": "red",
            "flagSetId": "app",
            "team": "web",
        }
        assert items["int-flag"]["value"] == "10"
        assert json.loads(items["object-flag"]["value"]) == {"size": 3, "tags": ["a"]}
        changed = flag_document()
        changed["flags"]["string-flag"]["defaultVariant"] = "blue"
        path.write_text(json.dumps(changed))

        def blue() -> bool:
            got = sc.request("GET", "/v1.0/configuration/flags?key=string-flag")
            return bool(json.loads(got.body)["string-flag"]["value"] == "blue")

        assert wait_until(blue, 5)
        listed = json.loads(sc.request("GET", "/v1.0/metadata").body)["components"]
        assert [c["name"] for c in listed].count("flags") == 1


def test_a_configuration_subscription_sees_flag_changes(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(flag_document()))
    source = component_yaml("flags", "flags.file", {"path": str(path), "pollInterval": "50ms"})
    with (
        Sidecar.start(tmp_path, components=[source]) as sc,
        grpc.insecure_channel(sc.grpc_target) as channel,
    ):
        stream: Any = dapr_pb2_grpc.DaprStub(channel).SubscribeConfiguration(
            configuration_pb2.SubscribeConfigurationRequest(
                store_name="flags", keys=["string-flag", "int-flag"]
            ),
            timeout=20,
        )
        assert next(stream).id
        changed = flag_document()
        changed["flags"]["string-flag"]["defaultVariant"] = "blue"
        del changed["flags"]["int-flag"]
        changed["flags"]["bool-flag"]["defaultVariant"] = "off"  # not subscribed
        path.write_text(json.dumps(changed))
        update = next(stream)
        stream.cancel()
    assert {k: v.value for k, v in update.items.items()} == {"string-flag": "blue", "int-flag": ""}
