"""Feature flags through the SDK (OFREP) and its OpenFeature provider, on a real sidecar."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem import AsyncClient, Client, NotFound, TandemError

from runtime.catalog import CATALOG
from tests.integration.harness import Sidecar, component_yaml

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not any(e.type == "flags.file" for e in CATALOG),
        reason="the feature-flags block (flags.file, OFREP) is not in this build (branch flags)",
    ),
]

FLAGS = {
    "flags": {
        "new-pricing": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [{"==": [{"var": "plan"}, "pro"]}, "on", "off"]},
        },
        "banner": {"state": "ENABLED", "variants": {"a": "hello"}, "defaultVariant": "a"},
        "limit": {"state": "ENABLED", "variants": {"v": 5}, "defaultVariant": "v"},
        "ratio": {"state": "ENABLED", "variants": {"v": 0.25}, "defaultVariant": "v"},
        "layout": {"state": "ENABLED", "variants": {"v": {"cols": 2}}, "defaultVariant": "v"},
        "off-flag": {"state": "DISABLED", "variants": {"v": True}, "defaultVariant": "v"},
    }
}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("sdkflags")
    path = tmp / "flags.json"
    path.write_text(json.dumps(FLAGS))
    comps = [component_yaml("flags", "flags.file", {"path": str(path)})]
    with Sidecar.start(tmp, components=comps, app_id="sdkflags") as sc:
        yield sc


async def test_typed_values_context_and_details(sidecar: Sidecar) -> None:
    async with AsyncClient(http_endpoint=sidecar.http_url) as client:
        assert await client.get_boolean("new-pricing", False) is False
        assert await client.get_boolean("new-pricing", False, context={"plan": "pro"}) is True
        assert await client.get_string("banner", "") == "hello"
        assert await client.get_int("limit", 0) == 5
        assert await client.get_float("ratio", 0.0) == 0.25
        assert await client.get_float("limit", 0.0) == 5.0
        assert await client.get_object("layout", {}) == {"cols": 2}
        assert await client.get_boolean("off-flag", False) is False  # DISABLED: the default
        details = await client.get_flag_details(
            "new-pricing", False, context={"targetingKey": "u1", "plan": "pro"}
        )
        assert (details.value, details.reason, details.variant) == (True, "TARGETING_MATCH", "on")
        with pytest.raises(TandemError) as err:
            await client.get_int("banner", 0)
        assert err.value.code == "TYPE_MISMATCH"
        with pytest.raises(NotFound) as missing:
            await client.get_boolean("nope", False)
        assert missing.value.code == "FLAG_NOT_FOUND"


def test_openfeature_provider(sidecar: Sidecar) -> None:
    pytest.importorskip("openfeature", reason="openfeature-sdk (extra: openfeature) not installed")
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.exception import ErrorCode
    from tandem.openfeature import TandemProvider

    with Client(http_endpoint=sidecar.http_url) as client:
        api.set_provider(TandemProvider(client))
        try:
            flags = api.get_client()
            pro = EvaluationContext("u1", {"plan": "pro"})
            assert flags.get_boolean_value("new-pricing", False, pro) is True
            assert flags.get_string_value("banner", "x") == "hello"
            assert flags.get_integer_value("limit", 0) == 5
            assert flags.get_float_value("ratio", 0.0) == 0.25
            assert flags.get_object_value("layout", {}) == {"cols": 2}
            missing = flags.get_boolean_details("nope", True)
            assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
            wrong = flags.get_integer_details("banner", 7)
            assert (wrong.value, wrong.error_code) == (7, ErrorCode.TYPE_MISMATCH)
        finally:
            api.clear_providers()
