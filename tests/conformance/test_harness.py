"""The shared harness itself: a malformed matrix fails loudly, gating skips what it should.

A block plugs in through a ``Block`` and a ``components.yaml``; these check the matrix rules on
a fabricated block in a temporary folder (its manifests go through the same checks).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from tests.conformance._harness import Block, FeatureCheck, load_matrix, requires
from tests.conformance._harness.gating import FEATURE_MARK


class _Feature(StrEnum):
    ONE = "ONE"
    TWO = "TWO"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    flavour: str


async def _probe(component: Any, case: Any, key: str) -> None:
    pass


_MANIFEST = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: x
spec:
  type: {type}
  version: v1
  metadata: []
"""


def _block(root: Path, matrix: str, *, manifest_type: str = "state.in-memory") -> Block[_Options]:
    folder = root / "state"
    folder.mkdir()
    (folder / "m.yaml").write_text(_MANIFEST.format(type=manifest_type), encoding="utf-8")
    (folder / "components.yaml").write_text(matrix, encoding="utf-8")
    check = FeatureCheck(protocol=None, probe=_probe)
    return Block(
        name="state",
        features=_Feature,
        declared=lambda _: frozenset(),
        options=_Options,
        checks={_Feature.ONE: check, _Feature.TWO: check},
        root=root,
    )


GOOD = """\
components:
  - {name: a, manifest: m.yaml, features: [ONE], server: null, flavour: plain}
"""


def test_a_well_formed_matrix_loads(tmp_path: Path) -> None:
    (case,) = load_matrix(_block(tmp_path, GOOD))
    assert case.name == "a"
    assert case.type == "state.in-memory"
    assert case.features == {_Feature.ONE}
    assert case.options.flavour == "plain"
    assert case.id == "state-a"


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (GOOD.replace("flavour: plain", "flavour: plain, typo: 1"), "typo"),
        (GOOD.replace(", flavour: plain", ""), "flavour"),
        (GOOD.replace("server: null, ", ""), "missing ['server']"),
        (GOOD.replace("server: null", "server: mongo"), "unknown server 'mongo'"),
        (GOOD.replace("[ONE]", "[THREE]"), "THREE"),
        (GOOD.replace("m.yaml", "absent.yaml"), "does not exist"),
        (GOOD + GOOD.replace("components:\n", ""), "duplicate names"),
        (GOOD.replace("components:", "stores:"), "'components'"),
    ],
    ids=[
        "unknown-field",
        "missing-block-field",
        "missing-generic-field",
        "unknown-server",
        "unknown-feature",
        "missing-manifest",
        "duplicate-name",
        "wrong-top-key",
    ],
)
def test_a_malformed_matrix_fails_loudly(tmp_path: Path, matrix: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_matrix(_block(tmp_path, matrix))


def test_a_manifest_of_another_block_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a state type"):
        load_matrix(_block(tmp_path, GOOD, manifest_type="pubsub.in-memory"))


def test_requires_marks_the_features() -> None:
    mark = requires(_Feature.ONE, _Feature.TWO)
    assert mark.name == FEATURE_MARK
    assert mark.args == (_Feature.ONE, _Feature.TWO)
    with pytest.raises(ValueError, match="at least one"):
        requires()
