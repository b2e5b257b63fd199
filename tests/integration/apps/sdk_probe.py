"""Drive a sidecar with the official ``dapr`` SDK and print one JSON line of observations.

Run as a child process by ``test_dapr_sdk`` (the SDK's generated protos and Tandem's declare the
same protobuf symbols, so the SDK never loads into the pytest process). The SDK reads
DAPR_HTTP_PORT, DAPR_GRPC_PORT and DAPR_API_TOKEN from the environment at import.

    python sdk_probe.py construct | metadata | set-metadata KEY VALUE | shutdown
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main() -> int:
    from dapr.clients import DaprClient

    out: dict[str, Any] = {}
    action, args = sys.argv[1], sys.argv[2:]
    try:
        client = DaprClient()
        with client:
            if action == "metadata":
                meta = client.get_metadata()
                out["id"] = meta.application_id
                out["components"] = [
                    {
                        "name": c.name,
                        "type": c.type,
                        "version": c.version,
                        "capabilities": list(c.capabilities),
                    }
                    for c in meta.registered_components
                ]
                out["extended"] = dict(meta.extended_metadata)
            elif action == "set-metadata":
                client.set_metadata(args[0], args[1])
                out["extended"] = dict(client.get_metadata().extended_metadata)
            elif action == "shutdown":
                client.shutdown()
            elif action != "construct":
                raise SystemExit(f"unknown action {action!r}")
    except Exception as exc:  # reported to the test, which asserts on it
        code = getattr(exc, "code", None)
        out["error"] = {
            "type": type(exc).__name__,
            "code": str(code()) if callable(code) else None,
            "message": str(exc),
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
