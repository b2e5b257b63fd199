"""Two hostile inputs on every route / RPC: a non-UTF-8 token header is 401, and undecodable
protobuf bytes are INVALID_ARGUMENT. They run on their own sidecar, so a regression's
tracebacks do not fail the main fuzz run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest

from tests.fuzz import _grpc, _http
from tests.fuzz._values import STORE
from tests.fuzz.test_fuzz import EXEMPT_FROM_TOKEN, _call
from tests.integration.harness import Sidecar, component_yaml

pytestmark = pytest.mark.integration
TOKEN = uuid.uuid4().hex


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("fuzz-errors")
    with Sidecar.start(
        tmp, components=[component_yaml(STORE, "state.sqlite")], env={"DAPR_API_TOKEN": TOKEN}
    ) as sc:
        yield sc


def test_non_utf8_token_header_is_401(sidecar: Sidecar) -> None:
    client = _http.Http(sidecar.http_port)
    try:
        for route in _http.routes():
            if (
                route.template in EXEMPT_FROM_TOKEN
                or (route.method, route.template) == _http.SHUTDOWN
            ):
                continue
            path = route.template.replace("{storeName}", STORE).replace("{key}", "k")
            headers = {"dapr-api-token": "\udcff\udcfe"}  # sent as the bytes 0xff 0xfe
            req = _http.HttpRequest(route, route.method, path, headers, None, False)
            status, _ = client.send(req)
            assert status == 401, (route.name, status)
    finally:
        client.close()
    assert "Traceback" not in sidecar.logs()


def test_undecodable_protobuf_is_invalid_argument(sidecar: Sidecar) -> None:
    with grpc.insecure_channel(sidecar.grpc_target) as channel:
        for rpc in _grpc.rpcs():
            if rpc.path == _grpc.SHUTDOWN:
                continue
            for data in (b"\xff\xff\xff\xff", b"\x0a\x02\xff\xfe", b"\x0a\x0astate"):
                if _grpc.decodable(rpc, data):  # e.g. an unknown field of an empty message
                    continue
                code, _ = _call(channel, rpc, data, TOKEN)
                assert code == grpc.StatusCode.INVALID_ARGUMENT, (rpc.path, data, code)
    assert "Traceback" not in sidecar.logs()
