"""Topic scoping from component metadata (Dapr's allowedTopics, *Scopes, protectedTopics)."""

from __future__ import annotations

from runtime.services.pubsub_scopes import TopicScopes


def scopes(**metadata: str) -> TopicScopes:
    return TopicScopes.from_metadata({k.lower(): v for k, v in metadata.items()})


def test_no_scoping_allows_everything() -> None:
    s = scopes()
    assert s.may_publish("app", "any")
    assert s.may_subscribe("app", "any")


def test_listed_apps_are_limited_to_their_topics() -> None:
    s = scopes(publishingScopes="app1=a,b;app2=", subscriptionScopes="app1=a")
    assert s.may_publish("app1", "b")
    assert not s.may_publish("app1", "c")
    assert not s.may_publish("app2", "a")  # "app2=": nothing
    assert s.may_publish("app3", "c")  # not listed: unrestricted
    assert s.may_subscribe("app1", "a")
    assert not s.may_subscribe("app1", "b")


def test_allowed_and_protected_topics() -> None:
    s = scopes(allowedTopics="a, b", protectedTopics="b", publishingScopes="owner=b")
    assert s.may_publish("anyone", "a")
    assert not s.may_publish("anyone", "c")  # not allowed
    assert not s.may_publish("anyone", "b")  # protected
    assert s.may_publish("owner", "b")  # granted
