"""Extended metadata attributes are bounded in total, so a client cannot grow the sidecar's
memory without limit or push GetMetadata past the API's message size (found by tests/fuzz)."""

from __future__ import annotations

import pytest

from runtime.compstore import ComponentStore
from runtime.errors import InvalidArgument
from runtime.services.metadata import MAX_ATTRIBUTES_BYTES, AppConnection, MetadataService


def _service() -> MetadataService:
    conn = AppConnection(port=None, protocol="http", channel_address="127.0.0.1")
    return MetadataService(ComponentStore(), app_id="a", app_connection=conn)


def test_attributes_are_bounded_in_total() -> None:
    svc = _service()
    chunk = "x" * (MAX_ATTRIBUTES_BYTES // 4)
    for i in range(3):
        svc.set_attribute(f"k{i}", chunk)
    with pytest.raises(InvalidArgument, match="metadata attributes"):
        svc.set_attribute("k3", chunk)
    assert "k3" not in svc.snapshot().extended
    svc.set_attribute("k0", "small")  # replacing a value frees its room
    svc.set_attribute("k3", chunk)
    assert svc.snapshot().extended["k3"] == chunk


def test_one_oversized_attribute_is_refused() -> None:
    svc = _service()
    with pytest.raises(InvalidArgument):
        svc.set_attribute("k", "é" * MAX_ATTRIBUTES_BYTES)
    svc.set_attribute("k", "v")
    assert svc.snapshot().extended["k"] == "v"
