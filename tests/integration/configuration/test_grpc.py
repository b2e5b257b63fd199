"""The configuration API over gRPC; ``test_http.py`` has the same cases over HTTP.

Subscriptions stream: the first message carries only the id, later ones the changed items.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from protos.dapr.runtime.v1 import configuration_pb2 as pb
from protos.dapr.runtime.v1 import metadata_pb2
from tests.integration.configuration._grpc import Grpc
from tests.integration.configuration._support import STORE, ConfigEnv, item
from tests.integration.harness import wait_until
from tests.integration.state._grpc import fail

pytestmark = pytest.mark.integration

WAIT = 10.0


@pytest.fixture(scope="module")
def rpc(env: ConfigEnv) -> Iterator[Grpc]:
    client = Grpc(env.sidecar.grpc_target)
    yield client
    client.close()


def test_get_returns_the_asked_items(env: ConfigEnv, rpc: Grpc) -> None:
    k1, k2 = env.keys()
    env.write({k1: "a", k2: "b"})
    assert wait_until(lambda: len(rpc.get(STORE, [k1, k2])) == 2, WAIT)
    assert rpc.get(STORE, [k1, k2]) == {k1: item("a"), k2: item("b")}
    assert rpc.get(STORE, [k1]) == {k1: item("a")}


def test_get_without_keys_returns_every_item(env: ConfigEnv, rpc: Grpc) -> None:
    (k1,) = env.keys(1)
    env.write({k1: "x"})
    assert wait_until(lambda: k1 in rpc.get(STORE, []), WAIT)
    assert set(rpc.get(STORE, [])) == set(env.items)


def test_get_of_missing_keys_is_empty(env: ConfigEnv, rpc: Grpc) -> None:
    assert rpc.get(STORE, env.keys()) == {}


def test_alpha1_names_are_aliases(env: ConfigEnv, rpc: Grpc) -> None:
    (k1,) = env.keys(1)
    env.write({k1: "alpha"})
    assert wait_until(lambda: rpc.get(STORE, [k1], alpha1=True) == {k1: item("alpha")}, WAIT)
    stream = rpc.subscribe(STORE, [k1], alpha1=True)
    sub_id = stream.first().id
    env.write({k1: "beta"})
    assert wait_until(lambda: stream.latest().get(k1) == item("beta"), WAIT)
    request = pb.UnsubscribeConfigurationRequest(store_name=STORE, id=sub_id)
    assert rpc.dapr.UnsubscribeConfigurationAlpha1(request).ok
    assert stream.ended.wait(WAIT)


def test_subscriber_receives_changes_then_nothing_after_unsubscribe(
    env: ConfigEnv, rpc: Grpc
) -> None:
    k1, k2 = env.keys()
    env.write({k1: "a1", k2: "b1"})
    assert wait_until(lambda: len(rpc.get(STORE, [k1, k2])) == 2, WAIT)
    stream = rpc.subscribe(STORE, [k1])
    first = stream.first()
    assert first.id
    assert not first.items
    other = rpc.subscribe(STORE, [k2])
    other.first()

    env.write({k1: "a2", k2: "b2"}, version="2")
    assert wait_until(lambda: stream.latest().get(k1) == item("a2", "2"), WAIT)
    assert set(stream.latest()) == {k1}
    assert all(m.id == first.id for m in stream.received)

    env.delete([k1])
    assert wait_until(lambda: stream.latest().get(k1) == item("", ""), WAIT)

    assert rpc.unsubscribe(STORE, first.id).ok
    assert stream.ended.wait(WAIT)  # the stream ends with the subscription
    count = len(stream.received)
    env.write({k1: "a3", k2: "b3"}, version="3")
    assert wait_until(lambda: other.latest().get(k2) == item("b3", "3"), WAIT)
    assert len(stream.received) == count
    other.cancel()


def test_unknown_store_is_rejected(env: ConfigEnv, rpc: Grpc) -> None:
    failure = fail(rpc.get, "nope", ["a"])
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.error_code == "ERR_CONFIGURATION_STORE_NOT_FOUND"
    stream = rpc.subscribe("nope", ["a"])
    assert stream.ended.wait(WAIT)
    assert stream.error is not None
    assert stream.error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_empty_key_is_rejected(env: ConfigEnv, rpc: Grpc) -> None:
    failure = fail(rpc.get, STORE, [""])
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.error_code == "ERR_MALFORMED_REQUEST"


def test_unknown_subscription_id_is_rejected(env: ConfigEnv, rpc: Grpc) -> None:
    failure = fail(rpc.unsubscribe, STORE, "no-such-id")
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.error_code == "ERR_CONFIGURATION_UNSUBSCRIBE"


def test_metadata_lists_the_store(env: ConfigEnv, rpc: Grpc) -> None:
    meta = rpc.dapr.GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=10)
    mine = [c for c in meta.registered_components if c.name == STORE]
    assert len(mine) == 1
    assert mine[0].type == "configuration.file"
    assert mine[0].version == "v1"


def test_the_log_has_no_traceback(env: ConfigEnv) -> None:
    """Runs last in this module: nothing above left a traceback (bad input, cancelled streams)."""
    assert "Traceback" not in env.sidecar.logs()
