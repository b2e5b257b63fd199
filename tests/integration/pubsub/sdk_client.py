"""Drive a Tandem sidecar's pub/sub API with the official ``dapr`` SDK; print JSON facts.

Run as a script, never imported by pytest: the SDK's generated protos and Tandem's cannot share
one process (see ``tests/integration/state/test_dapr_sdk.py``).

    DAPR_GRPC_PORT=... python sdk_client.py publish PUBSUB TOPIC
    DAPR_GRPC_PORT=... python sdk_client.py stream PUBSUB TOPIC COUNT

``publish``: one JSON event, one text event and a bulk of three, then a publish to an unknown
pubsub (its error). ``stream``: a streaming subscription (``DaprClient.subscribe``); publishes
COUNT events, answers RETRY to the first delivery and SUCCESS to everything else, and reports
what arrived.
"""

# The SDK is partly untyped.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import json
import sys
import time
from typing import Any

from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError


def publish(client: DaprClient, pubsub: str, topic: str) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    client.publish_event(
        pubsub, topic, json.dumps({"sdk": "json"}), data_content_type="application/json"
    )
    client.publish_event(pubsub, topic, "sdk text", data_content_type="text/plain")
    bulk = client.publish_events(
        pubsub,
        topic,
        [json.dumps({"bulk": n}) for n in range(3)],
        data_content_type="application/json",
    )
    facts["bulk_failed"] = [e.entry_id for e in bulk.failed_entries]
    try:
        client.publish_event("no-such-pubsub", topic, "x")
    except DaprGrpcError as exc:
        err: Any = exc
        facts["unknown"] = {"code": err.code().name, "error_code": err.error_code()}
    return facts


def stream(client: DaprClient, pubsub: str, topic: str, count: int) -> dict[str, Any]:
    subscription: Any = client.subscribe(pubsub_name=pubsub, topic=topic)
    try:
        for n in range(count):
            client.publish_event(
                pubsub, topic, json.dumps({"n": n}), data_content_type="application/json"
            )
        received: list[Any] = []
        retried = False
        deadline = time.monotonic() + 30
        done: set[int] = set()
        while len(done) < count and time.monotonic() < deadline:
            message = subscription.next_message()
            if message is None:
                continue
            data = message.data()
            received.append(
                {"data": data, "topic": message.topic(), "pubsub": message.pubsub_name()}
            )
            if not retried:
                retried = True
                subscription.respond_retry(message)
                continue
            subscription.respond_success(message)
            done.add(data["n"])
        return {"received": received, "done": sorted(done)}
    finally:
        subscription.close()


def main() -> int:
    command, pubsub, topic = sys.argv[1:4]
    with DaprClient() as client:
        if command == "publish":
            facts = publish(client, pubsub, topic)
        else:
            facts = stream(client, pubsub, topic, int(sys.argv[4]))
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
