"""W3C trace context helpers against hand-built traceparent values; tracing stays off here."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

from runtime.observability.propagation import (
    cloudevent_parent,
    extract_cloudevent,
    extract_grpc,
    extract_http,
    inject_cloudevent,
    inject_grpc,
    inject_http,
    set_traceparent,
)

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"

INVALID = [
    "",
    "garbage",
    f"00-{'0' * 32}-{SPAN_ID}-01",  # all-zero trace id
    f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero span id
    f"ff-{TRACE_ID}-{SPAN_ID}-01",  # forbidden version
    f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",  # uppercase hex
    f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 has exactly four fields
    f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",  # short trace id
]


def span_context(context: Context) -> trace.SpanContext:
    return trace.get_current_span(context).get_span_context()


def ids(context: Context) -> tuple[str, str, bool]:
    sc = span_context(context)
    return format(sc.trace_id, "032x"), format(sc.span_id, "016x"), sc.trace_flags.sampled


# -------------------------------------------------------------------------------------- HTTP


def test_extract_http_valid() -> None:
    context = extract_http({"traceparent": VALID})
    assert ids(context) == (TRACE_ID, SPAN_ID, True)
    assert span_context(context).is_remote


def test_extract_http_unsampled_flag() -> None:
    context = extract_http({"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-00"})
    assert ids(context) == (TRACE_ID, SPAN_ID, False)


def test_extract_http_future_version_is_accepted() -> None:
    context = extract_http({"traceparent": f"01-{TRACE_ID}-{SPAN_ID}-01-later-fields"})
    assert span_context(context).is_valid


@pytest.mark.parametrize("value", INVALID)
def test_extract_http_invalid(value: str) -> None:
    assert not span_context(extract_http({"traceparent": value})).is_valid


def test_extract_http_missing() -> None:
    assert not span_context(extract_http({})).is_valid
    assert not span_context(extract_http({"tracestate": TRACESTATE})).is_valid


def test_extract_http_keeps_tracestate() -> None:
    context = extract_http({"traceparent": VALID, "tracestate": TRACESTATE})
    assert span_context(context).trace_state.to_header() == TRACESTATE


def test_extract_http_case_insensitive_plain_dict() -> None:
    context = extract_http({"TraceParent": VALID, "TraceState": "a=1"})
    assert ids(context)[0] == TRACE_ID
    assert span_context(context).trace_state.to_header() == "a=1"


def test_extract_http_multidict_with_repeated_tracestate() -> None:
    headers = CIMultiDictProxy(
        CIMultiDict([("Traceparent", VALID), ("tracestate", "a=1"), ("TraceState", "b=2")])
    )
    context = extract_http(headers)
    assert ids(context)[0] == TRACE_ID
    assert span_context(context).trace_state.to_header() == "a=1,b=2"


def test_inject_http_round_trip_with_explicit_context() -> None:
    headers: dict[str, str] = {}
    inject_http(headers, extract_http({"traceparent": VALID, "tracestate": TRACESTATE}))
    assert headers == {"traceparent": VALID, "tracestate": TRACESTATE}


def test_inject_http_forwards_the_attached_caller_context() -> None:
    """Tracing off: the middleware attaches the caller's context; injection passes it on."""
    token = otel_context.attach(extract_http({"traceparent": VALID}))
    try:
        headers: dict[str, str] = {}
        inject_http(headers)
    finally:
        otel_context.detach(token)
    assert headers == {"traceparent": VALID}


def test_inject_http_without_context_changes_nothing() -> None:
    headers = {"Traceparent": "stale", "x": "1"}
    inject_http(headers)
    assert headers == {"Traceparent": "stale", "x": "1"}


def test_inject_http_replaces_stale_values_in_any_case() -> None:
    headers = {"Traceparent": "stale", "TRACESTATE": "old=1", "x": "1"}
    inject_http(headers, extract_http({"traceparent": VALID}))
    assert headers == {"traceparent": VALID, "x": "1"}

    multi: CIMultiDict[str] = CIMultiDict([("TraceParent", "stale"), ("tracestate", "old=1")])
    inject_http(multi, extract_http({"traceparent": VALID, "tracestate": "k=v"}))
    assert multi.getall("traceparent") == [VALID]
    assert multi.getall("tracestate") == ["k=v"]


# -------------------------------------------------------------------------------------- gRPC


def test_extract_grpc_valid_with_tracestate() -> None:
    metadata = [("user-agent", "x"), ("traceparent", VALID), ("tracestate", TRACESTATE)]
    context = extract_grpc(metadata)
    assert ids(context) == (TRACE_ID, SPAN_ID, True)
    assert span_context(context).trace_state.to_header() == TRACESTATE


def test_extract_grpc_bytes_values() -> None:
    assert ids(extract_grpc([("traceparent", VALID.encode())]))[0] == TRACE_ID


@pytest.mark.parametrize("value", INVALID)
def test_extract_grpc_invalid(value: str) -> None:
    assert not span_context(extract_grpc([("traceparent", value)])).is_valid


def test_extract_grpc_missing() -> None:
    assert not span_context(extract_grpc([])).is_valid
    assert not span_context(extract_grpc(None)).is_valid
    assert not span_context(extract_grpc([("user-agent", "x")])).is_valid


def test_inject_grpc_round_trip_and_replaces() -> None:
    metadata = [("traceparent", "stale"), ("tracestate", "old=1"), ("dapr-app-id", "b")]
    inject_grpc(metadata, extract_grpc([("traceparent", VALID), ("tracestate", TRACESTATE)]))
    assert metadata == [
        ("dapr-app-id", "b"),
        ("traceparent", VALID),
        ("tracestate", TRACESTATE),
    ]
    assert ids(extract_grpc(metadata))[0] == TRACE_ID


def test_inject_grpc_without_context_changes_nothing() -> None:
    metadata = [("a", "b")]
    inject_grpc(metadata)
    assert metadata == [("a", "b")]


# -------------------------------------------------------------------------------- CloudEvents


def test_inject_cloudevent_sets_traceid_like_dapr() -> None:
    event: dict[str, Any] = {"id": "1", "data": {}}
    inject_cloudevent(event, extract_http({"traceparent": VALID, "tracestate": TRACESTATE}))
    assert event["traceparent"] == VALID
    assert event["traceid"] == VALID
    assert event["tracestate"] == TRACESTATE


def test_inject_cloudevent_without_tracestate_drops_stale_one() -> None:
    event: dict[str, Any] = {"traceparent": "user", "tracestate": "user=1"}
    inject_cloudevent(event, extract_http({"traceparent": VALID}))
    assert event == {"traceparent": VALID, "traceid": VALID}


def test_inject_cloudevent_without_context_keeps_event() -> None:
    event: dict[str, Any] = {"traceparent": VALID}
    inject_cloudevent(event)
    assert event == {"traceparent": VALID}


def test_extract_cloudevent() -> None:
    context = extract_cloudevent({"traceparent": VALID, "tracestate": TRACESTATE})
    assert ids(context) == (TRACE_ID, SPAN_ID, True)
    assert span_context(context).trace_state.to_header() == TRACESTATE
    # traceid alone (the Dapr duplicate) is enough
    assert ids(extract_cloudevent({"traceid": VALID}))[0] == TRACE_ID


@pytest.mark.parametrize(
    "event",
    [{}, {"traceparent": 5}, {"traceparent": ""}, {"traceparent": "nope"}, {"traceid": None}],
)
def test_extract_cloudevent_invalid(event: dict[str, Any]) -> None:
    assert not span_context(extract_cloudevent(event)).is_valid


def test_cloudevent_round_trip() -> None:
    event: dict[str, Any] = {}
    inject_cloudevent(event, extract_http({"traceparent": VALID, "tracestate": "a=b"}))
    assert ids(extract_cloudevent(event)) == (TRACE_ID, SPAN_ID, True)
    assert span_context(extract_cloudevent(event)).trace_state.to_header() == "a=b"


@pytest.mark.parametrize(
    ("event", "shortcut"),
    [
        ({"traceparent": VALID}, True),
        ({"traceparent": VALID, "tracestate": ""}, True),
        ({"traceparent": "", "traceid": VALID}, True),
        ({"traceparent": 7, "traceid": VALID}, True),
        ({"traceparent": VALID, "tracestate": TRACESTATE}, False),  # the propagator's path
        ({"traceparent": f"01-{TRACE_ID}-{SPAN_ID}-01-later"}, False),  # a future version
        ({"traceparent": f" {VALID} "}, False),
        ({}, False),
        *(({"traceparent": bad}, False) for bad in INVALID),
    ],
)
def test_cloudevent_parent_is_extract_then_inject(event: dict[str, Any], shortcut: bool) -> None:
    """The shortcut gives what extract_cloudevent + inject_http give, whatever the event."""
    parent, traceparent = cloudevent_parent(event)
    expected = extract_cloudevent(event)
    assert span_context(parent) == span_context(expected)
    assert span_context(parent).trace_state == span_context(expected).trace_state
    assert (traceparent is not None) is shortcut
    headers: dict[str, str] = {"TraceParent": "stale", "tracestate": "stale=1", "x-other": "1"}
    wanted = dict(headers)
    inject_http(wanted, expected)
    if traceparent is None:
        inject_http(headers, parent)
    else:
        set_traceparent(headers, traceparent)
    assert headers == wanted
