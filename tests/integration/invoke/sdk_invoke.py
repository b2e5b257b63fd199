"""Child process: the official ``dapr`` SDK's ``invoke_method`` against a Tandem sidecar.

Reads DAPR_HTTP_PORT / DAPR_GRPC_PORT / DAPR_API_METHOD_INVOCATION_PROTOCOL from the
environment (as the SDK does) and prints one JSON line of observations. Runs apart from the
tests because the SDK's protos cannot share a process with Tandem's.
"""

# The SDK is partly untyped.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import json
import sys
from typing import Any

from dapr.clients import DaprClient


def main() -> int:
    facts: dict[str, Any] = {}
    with DaprClient() as client:
        posted = client.invoke_method(
            "beta",
            "echo/sdk",
            data=b'{"n": 1}',
            content_type="application/json",
            http_verb="POST",
        )
        facts["post"] = json.loads(posted.data)
        facts["post_content_type"] = posted.content_type
        if sys.argv[1] == "http":
            default = client.invoke_method("beta", "echo/default")
            facts["default_verb"] = json.loads(default.data)["method"]
            try:
                client.invoke_method("nosuchapp", "x", http_verb="GET")
            except Exception as exc:  # the SDK's error type differs per protocol
                facts["unknown"] = str(exc)
        grpc_callee = client.invoke_method("gamma", "echo", data="from-sdk")
        facts["grpc_callee"] = json.loads(grpc_callee.data)
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
