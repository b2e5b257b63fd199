"""OFREP on the HTTP API port, against a running sidecar serving a watched flag file."""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.integration.flags._support import flag_document, start_with_flags, write_flags
from tests.integration.harness import (
    Sidecar,
    component_yaml,
    free_port,
    http_request,
    run_tandem,
    wait_until,
)
from tests.otlp_receiver import ThreadedOtlpReceiver

pytestmark = pytest.mark.integration

EVAL = "/ofrep/v1/evaluate/flags"
META = {"flagSetId": "app", "team": "web"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sidecar, Path]]:
    with start_with_flags(tmp_path_factory.mktemp("ofrep")) as pair:
        yield pair


@pytest.fixture
def sidecar(served: tuple[Sidecar, Path]) -> Sidecar:
    return served[0]


def post(
    sc: Sidecar, path: str, body: Any = None, **headers: str
) -> tuple[int, Any, Mapping[str, str]]:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body if body is not None else {})
    r = sc.request("POST", path, data, {"Content-Type": "application/json", **headers})
    return r.status, (json.loads(r.body) if r.body else None), r.headers


def context(**attrs: Any) -> dict[str, Any]:
    return {"context": {"targetingKey": "user-1", **attrs}}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("bool-flag", {"value": True, "variant": "on", "reason": "STATIC"}),
        ("string-flag", {"value": "red", "variant": "red", "reason": "STATIC"}),
        ("int-flag", {"value": 10, "variant": "ten", "reason": "STATIC"}),
        ("float-flag", {"value": 1.0, "variant": "one", "reason": "STATIC"}),
        (
            "object-flag",
            {"value": {"size": 3, "tags": ["a"]}, "variant": "cfg", "reason": "STATIC"},
        ),
        ("targeted-flag", {"value": True, "variant": "on", "reason": "TARGETING_MATCH"}),
        ("disabled-flag", {"variant": None, "reason": "DISABLED"}),
        ("code-default-flag", {"variant": None, "reason": "DEFAULT"}),
    ],
)
def test_single_flag_shapes(sidecar: Sidecar, key: str, expected: dict[str, Any]) -> None:
    status, body, _ = post(sidecar, f"{EVAL}/{key}", context(email="a@example.com"))
    assert status == 200
    assert body == {"key": key, "metadata": META, **expected}


def test_floats_stay_floats_on_the_wire(sidecar: Sidecar) -> None:
    r = sidecar.request("POST", f"{EVAL}/float-flag", "{}")
    assert b'"value":1.0' in r.body


def test_fractional_rollout_is_deterministic(sidecar: Sidecar) -> None:
    answers = {
        name: post(sidecar, f"{EVAL}/fractional-flag", context(user={"name": name}))[1]["value"]
        for name in ("jack", "queen", "ten")
    }
    assert answers == {"jack": "diamonds", "queen": "diamonds", "ten": "clubs"}  # v3 vectors


def test_unknown_flag_is_404_flag_not_found(sidecar: Sidecar) -> None:
    status, body, _ = post(sidecar, f"{EVAL}/nope", context())
    assert status == 404
    assert body["errorCode"] == "FLAG_NOT_FOUND"
    assert body["key"] == "nope"


@pytest.mark.parametrize(
    "body",
    ["{not json", "[1, 2]", '{"context": [1]}', '{"context": "x"}'],
    ids=["not-json", "array", "context-array", "context-string"],
)
def test_invalid_context_is_400(sidecar: Sidecar, body: str) -> None:
    status, answer, _ = post(sidecar, f"{EVAL}/bool-flag", body)
    assert status == 400
    assert answer["errorCode"] == "INVALID_CONTEXT"


def test_an_empty_body_is_an_empty_context(sidecar: Sidecar) -> None:
    assert post(sidecar, f"{EVAL}/bool-flag", "")[0] == 200


def test_deeply_nested_context_is_refused_not_a_crash(sidecar: Sidecar) -> None:
    deep = '{"context": {"a": ' + "[" * 5000 + "]" * 5000 + "}}"
    status, answer, _ = post(sidecar, f"{EVAL}/bool-flag", deep)
    assert status == 400
    assert answer["errorCode"] == "INVALID_CONTEXT"
    assert post(sidecar, f"{EVAL}/bool-flag", context())[0] == 200


def test_context_with_too_many_values_is_refused(sidecar: Sidecar) -> None:
    wide = {"context": {"items": list(range(20_000))}}
    assert post(sidecar, f"{EVAL}/bool-flag", wide)[0] == 400


def test_body_over_the_limit_is_413(sidecar: Sidecar) -> None:
    huge = '{"context": {"x": "' + "a" * (5 * 1024 * 1024) + '"}}'
    assert post(sidecar, f"{EVAL}/bool-flag", huge)[0] == 413


def test_bulk_evaluates_every_flag_with_an_etag(sidecar: Sidecar) -> None:
    status, body, headers = post(sidecar, EVAL, context(email="a@example.com"))
    assert status == 200
    by_key = {item["key"]: item for item in body["flags"]}
    assert set(by_key) == set(flag_document()["flags"])
    assert by_key["targeted-flag"]["value"] is True
    assert by_key["disabled-flag"] == {
        "key": "disabled-flag",
        "reason": "DISABLED",
        "variant": None,
        "metadata": META,
    }
    assert body["metadata"] == META
    etag = headers["etag"]
    raw = sidecar.request("POST", EVAL, json.dumps(context(email="a@example.com"))).body
    assert etag == f'"{hashlib.sha256(raw).hexdigest()}"'
    again = sidecar.request(
        "POST", EVAL, json.dumps(context(email="a@example.com")), {"If-None-Match": etag}
    )
    assert again.status == 304
    assert again.body == b""
    weak = sidecar.request(
        "POST", EVAL, json.dumps(context(email="a@example.com")), {"If-None-Match": f"W/{etag}"}
    )
    assert weak.status == 304
    other = sidecar.request(
        "POST", EVAL, json.dumps(context(email="b@other.org")), {"If-None-Match": etag}
    )
    assert other.status == 200


def test_selector_header_chooses_the_flag_set(sidecar: Sidecar) -> None:
    assert (
        post(sidecar, f"{EVAL}/bool-flag", context(), **{"Flagd-Selector": "flagSetId=app"})[0]
        == 200
    )
    status, body, _ = post(
        sidecar, f"{EVAL}/bool-flag", context(), **{"Flagd-Selector": "flagSetId=other"}
    )
    assert (status, body["errorCode"]) == (404, "FLAG_NOT_FOUND")
    status, body, _ = post(sidecar, EVAL, context(), **{"Flagd-Selector": "other"})
    assert (status, body["flags"]) == (200, [])
    status, body, _ = post(sidecar, EVAL, context(), **{"Flagd-Selector": "color=red"})
    assert (status, body["errorCode"]) == (400, "GENERAL")


def test_api_token_is_required_when_set(tmp_path: Path) -> None:
    with start_with_flags(tmp_path, env={"DAPR_API_TOKEN": "secret"}) as (sc, _):
        assert post(sc, f"{EVAL}/bool-flag", context())[0] == 401
        assert post(sc, f"{EVAL}/bool-flag", context(), **{"dapr-api-token": "secret"})[0] == 200


def _sse_lines(sc: Sidecar) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", sc.http_port, timeout=10)
    conn.request("GET", "/ofrep/v1/sse")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type", "").startswith("text/event-stream")
    assert resp.readline() == b": connected\n"
    return conn, resp


def test_an_edit_is_served_and_announced_on_sse(tmp_path: Path) -> None:
    with start_with_flags(tmp_path) as (sc, path):
        conn, resp = _sse_lines(sc)
        try:
            changed = flag_document()
            changed["flags"]["string-flag"]["defaultVariant"] = "blue"
            write_flags(path, changed)
            lines = [resp.readline() for _ in range(3)]
            assert lines[0] == b"\n"
            assert lines[1] == b"event: message\n"
            message = json.loads(lines[2].removeprefix(b"data: "))
            assert message["type"] == "refetchEvaluation"
        finally:
            conn.close()
        assert post(sc, f"{EVAL}/string-flag", context())[1]["value"] == "blue"
        assert sc.wait_for_log("string-flag (update)")


def test_a_broken_edit_keeps_the_last_good_flags(tmp_path: Path) -> None:
    with start_with_flags(tmp_path) as (sc, path):
        write_flags(path, '{"flags": {\n  "bool-flag": oops}')
        assert sc.wait_for_log(f"{path}:2:16")
        assert post(sc, f"{EVAL}/bool-flag", context())[1]["value"] is True
        changed = flag_document()
        changed["flags"]["bool-flag"]["defaultVariant"] = "off"
        write_flags(path, changed)
        assert wait_until(
            lambda: post(sc, f"{EVAL}/bool-flag", context())[1].get("value") is False, 5
        )


@pytest.mark.parametrize(
    ("text", "position"),
    [('{"flags": {\n  "a": }', ":2:8"), ("flags:\n  a: [1,\n  b: 2\n", ":4:1")],
    ids=["json", "yaml"],
)
def test_a_broken_file_at_start_up_names_file_and_position(
    tmp_path: Path, text: str, position: str
) -> None:
    path = tmp_path / "flags.json"
    path.write_text(text)
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "flags.yaml").write_text(
        component_yaml("flags", "flags.file", {"path": str(path)})
    )
    result = run_tandem(["run", "--app-id", "x", "--resources-path", str(resources)], home=tmp_path)
    assert result.returncode != 0
    assert f"{path}{position}" in result.stderr + result.stdout


def test_yaml_flag_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(
        "flags:\n  y:\n    state: ENABLED\n    variants: {a: 1.5}\n    defaultVariant: a\n"
    )
    source = component_yaml("flags", "flags.file", {"path": str(path)})
    with Sidecar.start(tmp_path, components=[source]) as sc:
        assert post(sc, f"{EVAL}/y", {})[1]["value"] == 1.5


def test_sources_merge_in_order_each_with_its_flag_set(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write_flags(
        first,
        {
            "flags": {
                "shared": {"state": "ENABLED", "variants": {"a": "first"}, "defaultVariant": "a"},
                "only-a": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"},
            }
        },
    )
    write_flags(
        second,
        {
            "flags": {
                "shared": {"state": "ENABLED", "variants": {"b": "second"}, "defaultVariant": "b"}
            }
        },
    )
    sources = [
        component_yaml("a", "flags.file", {"path": str(first), "flagSetId": "set-a"}),
        component_yaml("b", "flags.file", {"path": str(second), "flagSetId": "set-b"}),
    ]
    with Sidecar.start(tmp_path, components=sources) as sc:
        status, body, _ = post(sc, f"{EVAL}/shared", {})
        assert (status, body["value"], body["metadata"]) == (200, "second", {"flagSetId": "set-b"})
        assert (
            post(sc, f"{EVAL}/shared", {}, **{"Flagd-Selector": "flagSetId=set-a"})[1]["value"]
            == "first"
        )
        assert post(sc, f"{EVAL}/only-a", {})[1]["value"] == 1
        assert post(sc, f"{EVAL}/only-a", {}, **{"Flagd-Selector": "set-b"})[0] == 404


def test_evaluations_are_counted_per_flag_variant_and_reason(tmp_path: Path) -> None:
    port = free_port()
    with start_with_flags(tmp_path, args=["--metrics-port", str(port)]) as (sc, _):
        for _ in range(3):
            post(sc, f"{EVAL}/targeted-flag", context(email="a@example.com"))
        post(sc, f"{EVAL}/no-such-flag-{uuid.uuid4().hex}", context())
        text = http_request(port, "GET", "/metrics").body.decode()
    series = 'flag_key="targeted-flag",reason="TARGETING_MATCH",variant="on"'
    assert any(
        line.startswith("tandem_feature_flag_evaluations_total{")
        and series in line
        and line.endswith(" 3.0")
        for line in text.splitlines()
    ), text
    assert 'error_type="FLAG_NOT_FOUND",flag_key=""' in text
    assert "no-such-flag" not in text


def test_an_evaluation_is_a_span_event_when_tracing(tmp_path: Path) -> None:
    with ThreadedOtlpReceiver(http=True) as receiver:
        config = tmp_path / "tracing.yaml"
        config.write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: t}\nspec:\n"
            f'  tracing:\n    samplingRate: "1"\n    otel:\n'
            f'      endpointAddress: "{receiver.grpc_endpoint}"\n'
            "      protocol: grpc\n      isSecure: false\n"
        )
        with start_with_flags(tmp_path, args=["--config", str(config)]) as (sc, _):
            trace_id = secrets.token_hex(16)
            header = f"00-{trace_id}-{secrets.token_hex(8)}-01"
            post(sc, f"{EVAL}/targeted-flag", context(email="a@example.com"), traceparent=header)
            (span,) = receiver.wait_for_spans(lambda s: s.trace_id == trace_id, count=1)
    assert span.events == [
        (
            "feature_flag.evaluation",
            {
                "feature_flag.key": "targeted-flag",
                "feature_flag.provider.name": "tandem",
                "feature_flag.result.reason": "targeting_match",
                "feature_flag.result.variant": "on",
            },
        )
    ]
