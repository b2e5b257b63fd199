"""The subscription table every configuration store shares, and the Redis value layout."""

from __future__ import annotations

import pytest

from components.configuration import ConfigurationItem, Items, SubscriptionNotFound
from components.configuration._subscriptions import DELETED, Subscriptions
from components.configuration.redis import missing_events, parse_value

A1, A2, B1 = ConfigurationItem("a1", "1"), ConfigurationItem("a2", "2"), ConfigurationItem("b1")


class Seen(list[dict[str, ConfigurationItem]]):
    def __call__(self, items: Items) -> None:
        self.append(dict(items))


def test_a_change_reaches_the_subscriptions_watching_its_key() -> None:
    subs = Subscriptions()
    only_a, everything = Seen(), Seen()
    subs.add(["a"], only_a, {})
    subs.add([], everything, {})
    subs.publish({"a": A1, "b": B1})
    assert only_a == [{"a": A1}]
    assert everything == [{"a": A1, "b": B1}]


def test_a_failing_handler_does_not_stop_the_others() -> None:
    subs = Subscriptions()
    seen = Seen()

    def broken(_: Items) -> None:
        raise RuntimeError("bug")

    subs.add([], broken, {})
    subs.add([], seen, {})
    subs.publish({"a": A1})
    assert seen == [{"a": A1}]


def test_resync_reports_only_what_changed_and_what_disappeared() -> None:
    subs = Subscriptions()
    seen = Seen()
    subs.add(["a", "b", "c"], seen, {"a": A1, "b": B1})
    subs.resync({"a": A2, "b": B1, "c": A1}, frozenset({"a", "b", "c"}))
    assert seen == [{"a": A2, "c": A1}]
    subs.resync({"a": A2}, frozenset({"a", "b", "c"}))
    assert seen[-1] == {"b": DELETED, "c": DELETED}
    subs.resync({"a": A2}, frozenset({"a", "b", "c"}))
    assert len(seen) == 2  # nothing new: nothing reported


def test_watched_keys_and_removal() -> None:
    subs = Subscriptions()
    first = subs.add(["a"], Seen(), {})
    assert subs.watched() == frozenset({"a"})
    everything = subs.add([], Seen(), {})
    assert subs.watched() is None
    subs.remove(everything)
    subs.remove(first)
    assert not subs
    with pytest.raises(SubscriptionNotFound):
        subs.remove(first)


@pytest.mark.parametrize(
    ("raw", "item"),
    [
        ("v||7", ConfigurationItem("v", "7")),
        ("plain", ConfigurationItem("plain")),
        ("a||b||3", ConfigurationItem("a||b", "3")),
        ("||", ConfigurationItem("", "")),
    ],
)
def test_redis_values_are_value_and_version(raw: str, item: ConfigurationItem) -> None:
    assert parse_value(raw) == item


@pytest.mark.parametrize(
    ("current", "missing"),
    [("", "Kg$xe"), ("Ex", "Kg$e"), ("KA", ""), ("AKE", ""), ("Kg$xe", ""), ("Elg", "K$xe")],
)
def test_only_missing_keyspace_flags_are_added(current: str, missing: str) -> None:
    assert missing_events(current) == missing
