"""Child process: the official ``dapr`` SDK's ``invoke_method`` with a ``traceparent`` and a
``tracestate`` in its metadata (``argv``: app id, method, traceparent, tracestate), over the
protocol in DAPR_API_METHOD_INVOCATION_PROTOCOL; prints one JSON line: the decoded reply."""

# The SDK is partly untyped.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import json
import sys
import warnings

from dapr.clients import DaprClient


def main() -> int:
    app_id, method, traceparent, tracestate = sys.argv[1:5]
    warnings.simplefilter("ignore", DeprecationWarning)  # gRPC invoke_method and its metadata
    with DaprClient() as client:
        reply = client.invoke_method(
            app_id,
            method,
            http_verb="GET",
            metadata=(("traceparent", traceparent), ("tracestate", tracestate)),
        )
    print(json.dumps(json.loads(reply.data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
