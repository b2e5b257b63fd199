"""flagd's gRPC services (evaluation v1/v2, sync v1) on the sidecar's gRPC API port."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2

from protos.flagd.evaluation.v1 import evaluation_pb2 as v1
from protos.flagd.evaluation.v1 import evaluation_pb2_grpc as v1_grpc
from protos.flagd.evaluation.v2 import evaluation_pb2 as v2
from protos.flagd.evaluation.v2 import evaluation_pb2_grpc as v2_grpc
from protos.flagd.sync.v1 import sync_pb2, sync_pb2_grpc
from tests.integration.flags._support import flag_document, start_with_flags, write_flags
from tests.integration.harness import Sidecar, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sidecar, Path]]:
    with start_with_flags(tmp_path_factory.mktemp("flagd")) as pair:
        yield pair


@pytest.fixture
def channel(served: tuple[Sidecar, Path]) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served[0].grpc_target) as ch:
        yield ch


def ctx(**attrs: Any) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update({"targetingKey": "user-1", **attrs})
    return out


def test_v2_typed_resolves(channel: grpc.Channel) -> None:
    stub = v2_grpc.ServiceStub(channel)
    b = stub.ResolveBoolean(v2.ResolveBooleanRequest(flag_key="bool-flag", context=ctx()))
    assert (b.value, b.variant, b.reason) == (True, "on", "STATIC")
    assert json_format.MessageToDict(b.metadata) == {"flagSetId": "app", "team": "web"}
    s = stub.ResolveString(v2.ResolveStringRequest(flag_key="string-flag"))
    assert s.value == "red"
    i = stub.ResolveInt(v2.ResolveIntRequest(flag_key="int-flag"))
    assert i.value == 10
    f = stub.ResolveFloat(v2.ResolveFloatRequest(flag_key="float-flag"))
    assert f.value == 1.0
    o = stub.ResolveObject(v2.ResolveObjectRequest(flag_key="object-flag"))
    assert json_format.MessageToDict(o.value) == {"size": 3, "tags": ["a"]}
    t = stub.ResolveBoolean(
        v2.ResolveBooleanRequest(flag_key="targeted-flag", context=ctx(email="x@example.com"))
    )
    assert (t.value, t.reason) == (True, "TARGETING_MATCH")


@pytest.mark.parametrize(
    ("key", "reason"), [("disabled-flag", "DISABLED"), ("code-default-flag", "DEFAULT")]
)
def test_v2_omits_the_value_when_there_is_none(
    channel: grpc.Channel, key: str, reason: str
) -> None:
    stub = v2_grpc.ServiceStub(channel)
    if key == "disabled-flag":
        res: Any = stub.ResolveBoolean(v2.ResolveBooleanRequest(flag_key=key))
    else:
        res = stub.ResolveString(v2.ResolveStringRequest(flag_key=key))
    assert res.reason == reason
    assert not res.HasField("value")
    assert not res.HasField("variant")


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda s: s.ResolveBoolean(v2.ResolveBooleanRequest(flag_key="nope")),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            lambda s: s.ResolveInt(v2.ResolveIntRequest(flag_key="string-flag")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            lambda s: s.ResolveFloat(v2.ResolveFloatRequest(flag_key="bool-flag")),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
    ids=["not-found", "int-of-string", "float-of-bool"],
)
def test_v2_errors_use_flagds_status_codes(
    channel: grpc.Channel, call: Any, code: grpc.StatusCode
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(v2_grpc.ServiceStub(channel))
    assert info.value.code() == code


def test_an_oversized_context_is_invalid_argument(channel: grpc.Channel) -> None:
    # (protobuf refuses to encode a Struct nested much deeper than the limit; width it is)
    with pytest.raises(grpc.RpcError) as info:
        v2_grpc.ServiceStub(channel).ResolveBoolean(
            v2.ResolveBooleanRequest(flag_key="bool-flag", context=ctx(items=list(range(20_000))))
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_v1_resolve_all_and_code_default(channel: grpc.Channel) -> None:
    stub = v1_grpc.ServiceStub(channel)
    everything = stub.ResolveAll(v1.ResolveAllRequest(context=ctx(email="x@example.com")))
    assert everything.flags["bool-flag"].bool_value is True
    assert everything.flags["float-flag"].double_value == 1.0
    assert everything.flags["targeted-flag"].reason == "TARGETING_MATCH"
    assert "code-default-flag" not in everything.flags
    with pytest.raises(grpc.RpcError) as info:
        stub.ResolveString(v1.ResolveStringRequest(flag_key="code-default-flag"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    disabled = stub.ResolveBoolean(v1.ResolveBooleanRequest(flag_key="disabled-flag"))
    assert (disabled.value, disabled.reason) == (False, "DISABLED")


def test_fetch_all_flags_serves_the_flag_configuration(channel: grpc.Channel) -> None:
    got = sync_pb2_grpc.FlagSyncServiceStub(channel).FetchAllFlags(sync_pb2.FetchAllFlagsRequest())
    flags = json.loads(got.flag_configuration)["flags"]
    assert set(flags) == set(flag_document()["flags"])
    assert flags["bool-flag"]["metadata"] == {"flagSetId": "app", "team": "web"}


def _drain(stream: Any, into: queue.Queue[Any]) -> None:
    try:
        for item in stream:
            into.put(item)
    except grpc.RpcError:
        pass


def test_event_stream_and_sync_follow_a_file_edit(tmp_path: Path) -> None:
    flagd_port = free_port()
    with (
        start_with_flags(tmp_path, args=["--flagd-port", str(flagd_port)]) as (_, path),
        grpc.insecure_channel(f"127.0.0.1:{flagd_port}") as ch,
    ):
        events: queue.Queue[Any] = queue.Queue()
        syncs: queue.Queue[Any] = queue.Queue()
        event_stream = v2_grpc.ServiceStub(ch).EventStream(v2.EventStreamRequest())
        sync_stream = sync_pb2_grpc.FlagSyncServiceStub(ch).SyncFlags(sync_pb2.SyncFlagsRequest())
        for stream, into in ((event_stream, events), (sync_stream, syncs)):
            threading.Thread(target=_drain, args=(stream, into), daemon=True).start()
        try:
            assert events.get(timeout=10).type == "provider_ready"
            first = json.loads(syncs.get(timeout=10).flag_configuration)
            assert first["flags"]["string-flag"]["defaultVariant"] == "red"
            changed = flag_document()
            changed["flags"]["string-flag"]["defaultVariant"] = "blue"
            del changed["flags"]["int-flag"]
            write_flags(path, changed)
            event = events.get(timeout=10)
            assert event.type == "configuration_change"
            assert json_format.MessageToDict(event.data) == {
                "flags": {"string-flag": {"type": "update"}, "int-flag": {"type": "delete"}}
            }
            second = json.loads(syncs.get(timeout=10).flag_configuration)
            assert second["flags"]["string-flag"]["defaultVariant"] == "blue"
            assert "int-flag" not in second["flags"]
        finally:
            event_stream.cancel()  # type: ignore[no-untyped-call]
            sync_stream.cancel()  # type: ignore[no-untyped-call]
