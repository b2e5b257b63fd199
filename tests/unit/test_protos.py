"""Tests for protos/: generated code is current and wire-compatible with Dapr's SDK.

Tandem's generated modules and the official ``dapr`` SDK's generated modules declare
the same proto symbols (``dapr.proto.runtime.v1.SaveStateRequest``...), so the two
cannot be loaded into one process: the second import fails with a descriptor-pool
conflict. Every check that loads either set of modules therefore runs in a
subprocess, and this test process imports neither.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# The RPCs Tandem's dapr.proto.runtime.v1.Dapr service declares, no more, no less.
EXPECTED_DAPR_RPCS = {
    "GetState",
    "GetBulkState",
    "SaveState",
    "QueryStateAlpha1",
    "DeleteState",
    "DeleteBulkState",
    "ExecuteStateTransaction",
    "GetSecret",
    "GetBulkSecret",
    "GetMetadata",
    "SetMetadata",
    "Shutdown",
    "InvokeService",
    "GetConfigurationAlpha1",
    "GetConfiguration",
    "SubscribeConfigurationAlpha1",
    "SubscribeConfiguration",
    "UnsubscribeConfigurationAlpha1",
    "UnsubscribeConfiguration",
    "PublishEvent",
    "BulkPublishEventAlpha1",
    "BulkPublishEvent",
    "SubscribeTopicEventsAlpha1",
}

# What Tandem calls on the app: AppCallback (no bindings/jobs yet), the health check, and
# the deprecated bulk-delivery fallback.
EXPECTED_APP_CALLBACK_RPCS = {
    "dapr.proto.runtime.v1.AppCallback": {
        "OnInvoke",
        "ListTopicSubscriptions",
        "OnTopicEvent",
        "OnBulkTopicEvent",
    },
    "dapr.proto.runtime.v1.AppCallbackHealthCheck": {"HealthCheck"},
    "dapr.proto.runtime.v1.AppCallbackAlpha": {"OnBulkTopicEventAlpha1"},
}

# Describes every message, enum and service found in the *_pb2 modules below a
# Python package (argv[1]), as JSON keyed by the proto full name.
DUMP_DESCRIPTORS = r"""
import importlib
import json
import pkgutil
import sys

from google.protobuf import descriptor_pb2

FieldProto = descriptor_pb2.FieldDescriptorProto


def pb2_modules(package_name):
    package = importlib.import_module(package_name)
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        if info.name.endswith("_pb2"):
            yield importlib.import_module(info.name)


def describe_field(proto, field):
    oneof = field.containing_oneof
    return {
        "name": proto.name,
        "number": proto.number,
        "type": FieldProto.Type.Name(proto.type),
        "label": FieldProto.Label.Name(proto.label),
        "type_name": proto.type_name,
        "json_name": proto.json_name if proto.HasField("json_name") else None,
        "effective_json_name": field.json_name,
        "proto3_optional": proto.proto3_optional,
        "deprecated": proto.options.deprecated,
        "oneof": oneof.name if oneof is not None else None,
    }


def describe_enum(enum, out):
    out["enums"][enum.full_name] = {
        "file": enum.file.name,
        "values": {v.name: v.number for v in enum.values},
    }


def describe_message(message, out):
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    by_name = message.fields_by_name
    out["messages"][message.full_name] = {
        "file": message.file.name,
        "map_entry": proto.options.map_entry,
        "fields": {str(f.number): describe_field(f, by_name[f.name]) for f in proto.field},
    }
    for nested in message.nested_types:
        describe_message(nested, out)
    for enum in message.enum_types:
        describe_enum(enum, out)


def describe_service(service, out):
    proto = descriptor_pb2.ServiceDescriptorProto()
    service.CopyToProto(proto)
    out["services"][service.full_name] = {
        "file": service.file.name,
        "methods": {
            m.name: {
                "input_type": m.input_type,
                "output_type": m.output_type,
                "client_streaming": m.client_streaming,
                "server_streaming": m.server_streaming,
            }
            for m in proto.method
        },
    }


out = {"messages": {}, "enums": {}, "services": {}}
for module in pb2_modules(sys.argv[1]):
    file = module.DESCRIPTOR
    for message in file.message_types_by_name.values():
        describe_message(message, out)
    for enum in file.enum_types_by_name.values():
        describe_enum(enum, out)
    for service in file.services_by_name.values():
        describe_service(service, out)
json.dump(out, sys.stdout, sort_keys=True)
"""

# SDK side of the SaveStateRequest round trip: print the serialized bytes as hex.
SDK_SAVE_STATE = r"""
import sys

from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import state_pb2

Options = common_pb2.StateOptions
request = state_pb2.SaveStateRequest(
    store_name="statestore",
    states=[
        common_pb2.StateItem(
            key="order-1",
            value=b"\x00\xff raw bytes",
            etag=common_pb2.Etag(value="17"),
            metadata={"ttlInSeconds": "60", "contentType": "application/json"},
            options=Options(
                concurrency=Options.CONCURRENCY_FIRST_WRITE,
                consistency=Options.CONSISTENCY_STRONG,
            ),
        ),
        common_pb2.StateItem(key="order-2", value=b"{}"),
        common_pb2.StateItem(key="order-3", etag=common_pb2.Etag(value="")),
    ],
)
sys.stdout.write(request.SerializeToString(deterministic=True).hex())
"""

# Tandem side of the SaveStateRequest round trip: parse hex from stdin, describe it.
TANDEM_PARSE_SAVE_STATE = r"""
import json
import sys

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import state_pb2

data = bytes.fromhex(sys.stdin.read())
request = state_pb2.SaveStateRequest.FromString(data)
known_only = state_pb2.SaveStateRequest()
known_only.CopyFrom(request)
known_only.DiscardUnknownFields()
Concurrency = common_pb2.StateOptions.StateConcurrency
Consistency = common_pb2.StateOptions.StateConsistency
json.dump(
    {
        "store_name": request.store_name,
        "states": [
            {
                "key": s.key,
                "value": s.value.hex(),
                "etag": s.etag.value if s.HasField("etag") else None,
                "metadata": dict(s.metadata),
                "concurrency": (
                    Concurrency.Name(s.options.concurrency) if s.HasField("options") else None
                ),
                "consistency": (
                    Consistency.Name(s.options.consistency) if s.HasField("options") else None
                ),
            }
            for s in request.states
        ],
        "reserialized_equal": known_only.SerializeToString(deterministic=True) == data,
    },
    sys.stdout,
)
"""

# Tandem side of the GetMetadataResponse round trip: every field 1..10 set.
TANDEM_METADATA = r"""
import json
import sys

from google.protobuf import json_format

from protos.dapr.runtime.v1 import metadata_pb2 as m

response = m.GetMetadataResponse(
    id="myapp",
    active_actors_count=[m.ActiveActorsCount(type="cart", count=2)],
    registered_components=[
        m.RegisteredComponents(
            name="statestore", type="state.redis", version="v1", capabilities=["ETAG"]
        )
    ],
    extended_metadata={"app-command": "python app.py"},
    subscriptions=[
        m.PubsubSubscription(
            pubsub_name="pubsub",
            topic="orders",
            metadata={"rawPayload": "true"},
            rules=m.PubsubSubscriptionRules(
                rules=[m.PubsubSubscriptionRule(match="event.type == 'a'", path="/a")]
            ),
            dead_letter_topic="dead",
            type=m.PROGRAMMATIC,
        )
    ],
    http_endpoints=[m.MetadataHTTPEndpoint(name="ext")],
    app_connection_properties=m.AppConnectionProperties(
        port=3000,
        protocol="http",
        channel_address="127.0.0.1",
        max_concurrency=5,
        health=m.AppConnectionHealthProperties(
            health_check_path="/healthz",
            health_probe_interval="5s",
            health_probe_timeout="500ms",
            health_threshold=3,
        ),
    ),
    runtime_version="0.1.0",
    enabled_features=["ServiceInvocationStreaming"],
    actor_runtime=m.ActorRuntime(
        runtime_status=m.ActorRuntime.RUNNING,
        active_actors=[m.ActiveActorsCount(type="cart", count=2)],
        host_ready=True,
        placement="connected",
    ),
)
json.dump(
    {
        "hex": response.SerializeToString(deterministic=True).hex(),
        "json": json_format.MessageToDict(response),
    },
    sys.stdout,
)
"""

# SDK side of the GetMetadataResponse round trip: parse hex from stdin, describe it.
SDK_PARSE_METADATA = r"""
import json
import sys

from google.protobuf import json_format

from dapr.proto.runtime.v1 import metadata_pb2

data = bytes.fromhex(sys.stdin.read())
response = metadata_pb2.GetMetadataResponse.FromString(data)
known_only = metadata_pb2.GetMetadataResponse()
known_only.CopyFrom(response)
known_only.DiscardUnknownFields()
json.dump(
    {
        "json": json_format.MessageToDict(response),
        "reserialized_equal": known_only.SerializeToString(deterministic=True) == data,
    },
    sys.stdout,
)
"""


# Either side of a generic round trip. argv: package prefix ("protos.dapr" or "dapr.proto"),
# module ("runtime.v1.appcallback_pb2"), message name, then "encode" (JSON on stdin → hex)
# or "decode" (hex on stdin → JSON).
ROUND_TRIP = r"""
import importlib
import json
import sys

from google.protobuf import json_format
from google.protobuf import wrappers_pb2  # registers StringValue for Any payloads

prefix, module, name, mode = sys.argv[1:5]
cls = getattr(importlib.import_module(f"{prefix}.{module}"), name)
text = sys.stdin.read()
if mode == "encode":
    message = json_format.ParseDict(json.loads(text), cls())
    sys.stdout.write(message.SerializeToString(deterministic=True).hex())
else:
    message = cls.FromString(bytes.fromhex(text))
    json.dump(json_format.MessageToDict(message, preserving_proto_field_name=True), sys.stdout)
"""


def run_python(code: str, *args: str, stdin: str = "") -> str:
    """Run code in a fresh interpreter at the repository root; return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"subprocess failed:\n{result.stderr}"
    return result.stdout


def run_json(code: str, *args: str, stdin: str = "") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run_python(code, *args, stdin=stdin))
    return data


@pytest.fixture(scope="module")
def tandem_dump() -> dict[str, Any]:
    return run_json(DUMP_DESCRIPTORS, "protos")


@pytest.fixture(scope="module")
def sdk_dump() -> dict[str, Any]:
    return run_json(DUMP_DESCRIPTORS, "dapr.proto")


def dapr_only(section: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in section.items() if name.startswith("dapr.proto.")}


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "protos.generate", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_tandem_declares_only_dapr_and_tandem_packages(tandem_dump: dict[str, Any]) -> None:
    names = [*tandem_dump["messages"], *tandem_dump["enums"], *tandem_dump["services"]]
    assert names
    # flagd.*: flagd's own protocols, checked against its provider in test_flagd_protos.py
    known = ("dapr.proto.", "tandem.runtime.v1.", "flagd.evaluation.", "flagd.sync.")
    strays = [n for n in names if not n.startswith(known)]
    assert strays == []


def test_dapr_service_declares_exactly_the_served_rpcs(tandem_dump: dict[str, Any]) -> None:
    service = tandem_dump["services"]["dapr.proto.runtime.v1.Dapr"]
    assert set(service["methods"]) == EXPECTED_DAPR_RPCS


def test_tandem_service(tandem_dump: dict[str, Any]) -> None:
    service = tandem_dump["services"]["tandem.runtime.v1.Tandem"]
    assert service["methods"] == {
        "ListStateKeysAlpha1": {
            "input_type": ".tandem.runtime.v1.ListStateKeysRequest",
            "output_type": ".tandem.runtime.v1.ListStateKeysResponse",
            "client_streaming": False,
            "server_streaming": False,
        }
    }
    request = tandem_dump["messages"]["tandem.runtime.v1.ListStateKeysRequest"]["fields"]
    assert {f["name"]: (f["number"], f["type"]) for f in request.values()} == {
        "store_name": (1, "TYPE_STRING"),
        "prefix": (2, "TYPE_STRING"),
        "limit": (3, "TYPE_INT32"),
        "token": (4, "TYPE_STRING"),
        "metadata": (5, "TYPE_MESSAGE"),
    }
    response = tandem_dump["messages"]["tandem.runtime.v1.ListStateKeysResponse"]["fields"]
    assert {f["name"]: (f["number"], f["label"]) for f in response.values()} == {
        "keys": (1, "LABEL_REPEATED"),
        "token": (2, "LABEL_OPTIONAL"),
    }


def test_messages_match_sdk(tandem_dump: dict[str, Any], sdk_dump: dict[str, Any]) -> None:
    ours, theirs = dapr_only(tandem_dump["messages"]), sdk_dump["messages"]
    assert ours
    problems = []
    for name, message in sorted(ours.items()):
        if name not in theirs:
            problems.append(f"{name}: not in the SDK")
            continue
        if message["map_entry"] != theirs[name]["map_entry"]:
            problems.append(f"{name}: map_entry differs")
        for number, field in sorted(message["fields"].items()):
            sdk_field = theirs[name]["fields"].get(number)
            if field != sdk_field:
                problems.append(f"{name} field {number}: tandem {field} != sdk {sdk_field}")
    assert problems == []


def test_enums_match_sdk(tandem_dump: dict[str, Any], sdk_dump: dict[str, Any]) -> None:
    ours, theirs = dapr_only(tandem_dump["enums"]), sdk_dump["enums"]
    assert ours
    problems = []
    for name, enum in sorted(ours.items()):
        if name not in theirs:
            problems.append(f"{name}: not in the SDK")
            continue
        for value, number in sorted(enum["values"].items()):
            sdk_number = theirs[name]["values"].get(value)
            if number != sdk_number:
                problems.append(f"{name}.{value}: tandem {number} != sdk {sdk_number}")
    assert problems == []


def test_rpcs_match_sdk(tandem_dump: dict[str, Any], sdk_dump: dict[str, Any]) -> None:
    ours, theirs = dapr_only(tandem_dump["services"]), sdk_dump["services"]
    assert ours
    problems = []
    for name, service in sorted(ours.items()):
        if name not in theirs:
            problems.append(f"{name}: not in the SDK")
            continue
        for method, signature in sorted(service["methods"].items()):
            sdk_signature = theirs[name]["methods"].get(method)
            if signature != sdk_signature:
                problems.append(f"{name}/{method}: tandem {signature} != sdk {sdk_signature}")
    assert problems == []


def test_save_state_request_from_sdk_parses_in_tandem() -> None:
    data = run_python(SDK_SAVE_STATE).strip()
    parsed = run_json(TANDEM_PARSE_SAVE_STATE, stdin=data)
    assert parsed == {
        "store_name": "statestore",
        "states": [
            {
                "key": "order-1",
                "value": b"\x00\xff raw bytes".hex(),
                "etag": "17",
                "metadata": {"ttlInSeconds": "60", "contentType": "application/json"},
                "concurrency": "CONCURRENCY_FIRST_WRITE",
                "consistency": "CONSISTENCY_STRONG",
            },
            {
                "key": "order-2",
                "value": b"{}".hex(),
                "etag": None,
                "metadata": {},
                "concurrency": None,
                "consistency": None,
            },
            {
                "key": "order-3",
                "value": "",
                "etag": "",
                "metadata": {},
                "concurrency": None,
                "consistency": None,
            },
        ],
        "reserialized_equal": True,
    }


def test_metadata_response_from_tandem_parses_in_sdk() -> None:
    sent = run_json(TANDEM_METADATA)
    received = run_json(SDK_PARSE_METADATA, stdin=sent["hex"])
    assert received["reserialized_equal"] is True
    assert received["json"] == sent["json"]
    # Dapr's explicit json_names, as the SDK renders them.
    assert {"actors", "components", "extended", "actorRuntime"} <= set(received["json"])
    assert received["json"]["subscriptions"][0]["pubsubname"] == "pubsub"


def test_app_callback_services_declare_exactly_the_called_rpcs(
    tandem_dump: dict[str, Any],
) -> None:
    declared = {
        name: set(service["methods"])
        for name, service in tandem_dump["services"].items()
        if name.startswith("dapr.proto.runtime.v1.AppCallback")
    }
    assert declared == EXPECTED_APP_CALLBACK_RPCS


def round_trip(
    message: str, module: str, value: dict[str, Any], *, sender: str, receiver: str
) -> dict[str, Any]:
    encoded = run_python(ROUND_TRIP, sender, module, message, "encode", stdin=json.dumps(value))
    return run_json(ROUND_TRIP, receiver, module, message, "decode", stdin=encoded)


@pytest.mark.parametrize(
    ("module", "message", "value"),
    [
        (
            "runtime.v1.appcallback_pb2",
            "TopicEventRequest",
            {
                "id": "e1",
                "source": "orders",
                "type": "com.dapr.event.sent",
                "spec_version": "1.0",
                "data_content_type": "application/json",
                "data": "eyJhIjoxfQ==",
                "topic": "new-orders",
                "pubsub_name": "pubsub",
                "path": "/orders",
                "extensions": {"traceparent": "00-abc-def-01", "n": 1.0},
            },
        ),
        (
            "runtime.v1.appcallback_pb2",
            "TopicEventBulkRequest",
            {
                "id": "b1",
                "entries": [
                    {"entry_id": "1", "bytes": "AAE=", "content_type": "text/plain"},
                    {
                        "entry_id": "2",
                        "cloud_event": {"id": "c", "data": "e30=", "spec_version": "1.0"},
                        "metadata": {"k": "v"},
                    },
                ],
                "metadata": {"m": "1"},
                "topic": "t",
                "pubsub_name": "p",
                "type": "com.dapr.event.sent.bulk",
                "path": "/bulk",
            },
        ),
        (
            "common.v1.common_pb2",
            "InvokeRequest",
            {
                "method": "orders/1",
                "data": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "x"},
                "content_type": "text/plain",
                "http_extension": {"verb": "PATCH", "querystring": "a=1&b=2"},
            },
        ),
    ],
)
def test_sidecar_to_app_messages_parse_in_sdk(
    module: str, message: str, value: dict[str, Any]
) -> None:
    assert round_trip(message, module, value, sender="protos.dapr", receiver="dapr.proto") == value


@pytest.mark.parametrize(
    ("module", "message", "value"),
    [
        (
            "runtime.v1.appcallback_pb2",
            "ListTopicSubscriptionsResponse",
            {
                "subscriptions": [
                    {
                        "pubsub_name": "pubsub",
                        "topic": "orders",
                        "metadata": {"rawPayload": "true"},
                        "routes": {
                            "rules": [{"match": "event.type == 'a'", "path": "/a"}],
                            "default": "/d",
                        },
                        "dead_letter_topic": "dead",
                        "bulk_subscribe": {
                            "enabled": True,
                            "max_messages_count": 10,
                            "max_await_duration_ms": 50,
                        },
                    }
                ]
            },
        ),
        (
            "runtime.v1.appcallback_pb2",
            "TopicEventBulkResponse",
            {"statuses": [{"entry_id": "1", "status": "DROP"}, {"entry_id": "2"}]},
        ),
        ("runtime.v1.appcallback_pb2", "TopicEventResponse", {"status": "RETRY"}),
        (
            "common.v1.common_pb2",
            "InvokeResponse",
            {
                "data": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "x"},
                "content_type": "application/json",
            },
        ),
    ],
)
def test_app_to_sidecar_messages_parse_in_tandem(
    module: str, message: str, value: dict[str, Any]
) -> None:
    assert round_trip(message, module, value, sender="dapr.proto", receiver="protos.dapr") == value
