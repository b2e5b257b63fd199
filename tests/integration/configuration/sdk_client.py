"""Child process: the official ``dapr`` SDK reads and watches Tandem's configuration API.

argv: store, file (the store's YAML file, edited here to make a change), key, out (where the
JSON observations are written: the SDK's watcher thread prints to stdout on its own). Runs
apart from pytest because the SDK's generated protos cannot share a process with Tandem's (see
tests/integration/state/test_dapr_sdk.py).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from dapr.clients import DaprClient


def edit(file: Path, key: str, value: str, version: str) -> None:
    items = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    items[key] = {"value": value, "version": version}
    tmp = file.with_suffix(".sdk.tmp")
    tmp.write_text(yaml.safe_dump(items), encoding="utf-8")
    os.replace(tmp, file)


def main() -> None:
    store, file, key, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    facts: dict[str, Any] = {}
    seen: list[dict[str, Any]] = []
    arrived = threading.Event()

    def handler(sub_id: str, resp: Any) -> None:
        for k, item in resp.items.items():
            seen.append({"id": sub_id, "key": k, "value": item.value, "version": item.version})
            if k == key and item.value == "new":
                arrived.set()

    with DaprClient() as client:
        got = client.get_configuration(store, [key])
        facts["get"] = {k: [v.value, v.version] for k, v in got.items.items()}
        facts["get_missing"] = dict(client.get_configuration(store, [key + "-missing"]).items)
        sub_id = client.subscribe_configuration(store, [key], handler)
        facts["subscribed"] = bool(sub_id)
        edit(file, key, "new", "2")
        deadline = time.monotonic() + 10
        facts["arrived"] = arrived.wait(max(0.0, deadline - time.monotonic()))
        facts["seen"] = seen
        facts["sub_id"] = sub_id
        facts["unsubscribed"] = client.unsubscribe_configuration(store, sub_id)
    out.write_text(json.dumps(facts), encoding="utf-8")


if __name__ == "__main__":
    main()
