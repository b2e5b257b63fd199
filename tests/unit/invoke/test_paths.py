"""Invocation targets and method paths: ``app-id[.namespace]`` and traversal-proof paths."""

from __future__ import annotations

import itertools

import pytest
from aiohttp.test_utils import make_mocked_request

from runtime.api.http.routes.invoke import direct
from runtime.errors import APIError
from runtime.services.invoke import Target, clean_method, parse_target


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("orders/42", "orders/42"),
        ("/orders/42", "orders/42"),
        ("a/./b", "a/b"),
        ("a/../b", "b"),
        ("../../etc/passwd", "etc/passwd"),
        ("%2e%2e/%2E%2E/etc/passwd", "etc/passwd"),
        ("a/%2e/b", "a/b"),
        ("a//b", "a/b"),
        ("a/b/", "a/b/"),
        ("a%2Fb/..", ""),  # an encoded slash is no separator: one segment, then climbed out of
        ("..", ""),
        ("a%20b/c?d", "a%20b/c?d"),  # percent-encoding and other bytes kept as sent
        ("...", "..."),  # not a dot segment
    ],
)
def test_method_paths_never_climb_above_the_root(raw: str, expected: str) -> None:
    assert clean_method(raw) == expected


def _resolved(raw: str) -> str:
    """The segment-by-segment resolution ``clean_method`` skips when there is nothing to do."""
    out: list[str] = []
    segments = raw.split("/")
    for i, segment in enumerate(segments):
        dots = segment.lower().replace("%2e", ".")
        if dots == "..":
            if out:
                out.pop()
        elif dots != "." and (segment or i == len(segments) - 1):
            out.append(segment)
    return "/".join(out)


def test_the_shortcut_agrees_with_the_full_resolution() -> None:
    for size in range(6):
        for chars in itertools.product("a/.%2eE", repeat=size):
            raw = "".join(chars)
            assert clean_method(raw) == _resolved(raw), raw


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/v1.0/invoke/app/method/x", {}, True),
        ("/v1.0/invoke/app.ns/method/a/b?q=1", {}, True),
        ("/v1.0/invoke/app/method/x", {"dapr-app-id": "other"}, False),
        ("/v1.0/invoke/app/method/x", {"Expect": "100-continue"}, False),
        ("/v1.0/invoke/a%2Fb/method/x", {}, False),  # left to the router
        ("/v1.0/invoke//method/x", {}, False),
        ("/v1.0/invoke/app/x", {}, False),
        ("/v1.0/state/store", {}, False),
    ],
)
def test_which_invocations_skip_the_router(
    path: str, headers: dict[str, str], expected: bool
) -> None:
    request = make_mocked_request("GET", path, headers=headers)
    assert direct(request) is expected


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("orders", Target("orders", "ns0")),
        ("orders.prod", Target("orders", "prod")),
        ("orders.", Target("orders", "")),
        (" orders ", Target("orders", "ns0")),
    ],
)
def test_targets(text: str, target: Target) -> None:
    assert parse_target(text, "ns0") == target


@pytest.mark.parametrize("text", ["", " ", ".prod"])
def test_a_missing_app_id_is_err_direct_invoke_404(text: str) -> None:
    with pytest.raises(APIError) as info:
        parse_target(text, "")
    assert info.value.code == "ERR_DIRECT_INVOKE"
    assert info.value.http_status == 404
