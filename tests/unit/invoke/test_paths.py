"""Invocation targets and method paths: ``app-id[.namespace]`` and traversal-proof paths."""

from __future__ import annotations

import pytest

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
