"""Access control decisions, on normalised paths."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.resources.configuration import AccessControl
from runtime.security.acl import AccessPolicy, Caller, normalise_path

ALICE = Caller("alice", "default", "public")


def policy(**spec: Any) -> AccessPolicy:
    return AccessPolicy(AccessControl.model_validate(spec))


STRICT = policy(
    defaultAction="deny",
    trustDomain="public",
    policies=[
        {
            "appId": "alice",
            "defaultAction": "deny",
            "namespace": "default",
            "operations": [
                {"name": "/orders", "httpVerb": ["GET"], "action": "allow"},
                {"name": "/orders/*", "httpVerb": ["GET", "PUT"], "action": "allow"},
                {"name": "/orders/*/secret", "httpVerb": ["*"], "action": "deny"},
                {"name": "/public/**", "httpVerb": ["*"], "action": "allow"},
                {"name": "/public/admin/**", "httpVerb": ["*"], "action": "deny"},
            ],
        },
        {"appId": "bob", "defaultAction": "allow"},
    ],
)


@pytest.mark.parametrize(
    ("verb", "method", "allowed"),
    [
        ("GET", "orders", True),
        ("GET", "/orders", True),
        ("POST", "orders", False),  # verb not listed, then the policy's default
        ("GET", "orders/1", True),
        ("PUT", "orders/1", True),
        ("DELETE", "orders/1", False),
        ("GET", "orders/1/2", False),  # * is one segment
        ("GET", "orders/1/secret", False),  # the more specific rule wins
        ("GET", "public", True),  # ** matches zero segments
        ("POST", "public/a/b/c", True),
        ("GET", "public/admin/x", False),
        ("GET", "other", False),
        (None, "orders/1/secret", False),  # gRPC: no verb, any httpVerb matches
        (None, "orders/1", True),
    ],
)
def test_operations(verb: str | None, method: str, allowed: bool) -> None:
    assert STRICT.allows(ALICE, verb, method) is allowed


@pytest.mark.parametrize(
    "method",
    [
        "public/../admin",
        "public/%2e%2e/admin",
        "public/%2E%2E/admin",
        "public/./../admin",
        "orders/1/%2e/secret",
        "orders//1//secret",
        "orders/1/./secret",
        "public/admin/../admin/x",
        "public/%2fadmin/x/../../admin/x",
        "/public/admin%2fx",
        "..",
        "../orders",
        "orders/%00",
        "orders/%ff%fe",
    ],
)
def test_path_tricks_cannot_slip_past_a_rule(method: str) -> None:
    assert STRICT.allows(ALICE, "GET", method) is False


def test_normalisation() -> None:
    assert normalise_path("/a//b/./c/../d") == ("a", "b", "d")
    assert normalise_path("a%2Fb") == ("a", "b")
    assert normalise_path("a/../..") is None
    assert normalise_path("a?x=../..") == ("a",)


def test_unknown_caller_gets_the_global_default() -> None:
    carol = Caller("carol", "default", "public")
    assert STRICT.allows(carol, "GET", "orders") is False
    assert policy(defaultAction="allow").allows(carol, "GET", "anything") is True


def test_policy_default_applies_to_its_app() -> None:
    assert STRICT.allows(Caller("bob", "default", "public"), "DELETE", "x") is True


def test_namespace_and_trust_domain_must_match() -> None:
    assert STRICT.allows(Caller("alice", "prod", "public"), "GET", "orders") is False
    assert STRICT.allows(Caller("alice", "default", "other"), "GET", "orders") is False
    anyns = policy(defaultAction="deny", policies=[{"appId": "alice", "defaultAction": "allow"}])
    assert anyns.allows(Caller("alice", "prod", "public"), "GET", "x") is True


def test_policy_without_default_falls_back_to_global() -> None:
    p = policy(
        defaultAction="allow",
        policies=[
            {
                "appId": "alice",
                "operations": [{"name": "/x", "httpVerb": ["GET"], "action": "deny"}],
            }
        ],
    )
    assert p.allows(ALICE, "GET", "x") is False
    assert p.allows(ALICE, "GET", "y") is True


def test_verbs_are_case_insensitive() -> None:
    p = policy(
        defaultAction="deny",
        policies=[
            {
                "appId": "alice",
                "operations": [{"name": "/x", "httpVerb": ["get"], "action": "allow"}],
            }
        ],
    )
    assert p.allows(ALICE, "GET", "x") is True
    assert p.allows(ALICE, "post", "x") is False
