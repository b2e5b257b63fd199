"""The configuration API over HTTP; ``test_grpc.py`` has the same cases over gRPC.

Subscriptions over HTTP call the app back: ``POST /configuration/{store}/{key}`` with
``{"id", "items": {key: item}}``, once per changed key (the app here is plain aiohttp).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.configuration._support import STORE, ConfigEnv, item
from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration

WAIT = 10.0


def _query(keys: list[str]) -> str:
    return "&".join(f"key={k}" for k in keys)


def _get(env: ConfigEnv, keys: list[str], version: str = "v1.0", store: str = STORE) -> Any:
    return env.http(f"/{version}/configuration/{store}?{_query(keys)}")


def _callbacks(env: ConfigEnv, sub_id: str) -> list[dict[str, Any]]:
    return [r for r in env.received() if r["body"]["id"] == sub_id]


def _latest(env: ConfigEnv, sub_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in _callbacks(env, sub_id):
        out.update(r["body"]["items"])
    return out


def test_get_returns_the_asked_items(env: ConfigEnv) -> None:
    k1, k2 = env.keys()
    env.write({k1: "a", k2: "b"})
    assert wait_until(lambda: _get(env, [k1, k2]).status == 200, WAIT)
    resp = _get(env, [k1, k2])
    assert resp.json() == {k1: item("a"), k2: item("b")}
    assert _get(env, [k1]).json() == {k1: item("a")}


def test_get_without_keys_returns_every_item(env: ConfigEnv) -> None:
    (k1,) = env.keys(1)
    env.write({k1: "x"})
    assert wait_until(lambda: k1 in (_get(env, []).json() or {}), WAIT)
    assert set(_get(env, []).json()) == set(env.items)


def test_get_of_missing_keys_is_empty(env: ConfigEnv) -> None:
    resp = _get(env, env.keys())
    assert resp.status == 204
    assert resp.body == b""


def test_alpha1_names_are_aliases(env: ConfigEnv) -> None:
    (k1,) = env.keys(1)
    env.write({k1: "alpha"})
    assert wait_until(lambda: _get(env, [k1], "v1.0-alpha1").status == 200, WAIT)
    assert _get(env, [k1], "v1.0-alpha1").json() == {k1: item("alpha")}


def test_subscriber_receives_changes_then_nothing_after_unsubscribe(env: ConfigEnv) -> None:
    k1, k2 = env.keys()
    env.write({k1: "a1", k2: "b1"})
    assert wait_until(lambda: _get(env, [k1, k2]).status == 200, WAIT)
    resp = env.http(f"/v1.0/configuration/{STORE}/subscribe?key={k1}")
    assert resp.status == 200
    sub_id = resp.json()["id"]
    other = env.http(f"/v1.0/configuration/{STORE}/subscribe?key={k2}").json()["id"]

    env.write({k1: "a2", k2: "b2"}, version="2")
    assert wait_until(lambda: _latest(env, sub_id).get(k1) == item("a2", "2"), WAIT)
    calls = _callbacks(env, sub_id)
    assert {c["key"] for c in calls} == {k1}  # only its key, one callback per key
    assert all(c["store"] == STORE and c["content_type"] == "application/json" for c in calls)
    assert all(list(c["body"]["items"]) == [c["key"]] for c in calls)

    env.delete([k1])
    assert wait_until(lambda: _latest(env, sub_id).get(k1) == item("", ""), WAIT)

    resp = env.http(f"/v1.0/configuration/{STORE}/{sub_id}/unsubscribe")
    assert (resp.status, resp.json()) == (200, {"ok": True})
    before = len(_callbacks(env, sub_id))
    env.write({k1: "a3", k2: "b3"}, version="3")
    # the other subscription's callback for the same file change has arrived: ours would have too
    assert wait_until(lambda: _latest(env, other).get(k2) == item("b3", "3"), WAIT)
    assert len(_callbacks(env, sub_id)) == before
    env.http(f"/v1.0/configuration/{STORE}/{other}/unsubscribe")


def test_unknown_store_is_rejected(env: ConfigEnv) -> None:
    for path in (
        "/v1.0/configuration/nope?key=a",
        "/v1.0/configuration/nope/subscribe?key=a",
    ):
        resp = env.http(path)
        assert resp.status == 400, path
        assert resp.json()["errorCode"] == "ERR_CONFIGURATION_STORE_NOT_FOUND"


def test_empty_key_is_rejected(env: ConfigEnv) -> None:
    resp = env.http(f"/v1.0/configuration/{STORE}?key=")
    assert resp.status == 400
    assert resp.json()["errorCode"] == "ERR_MALFORMED_REQUEST"


def test_unknown_subscription_id_is_rejected(env: ConfigEnv) -> None:
    resp = env.http(f"/v1.0/configuration/{STORE}/no-such-id/unsubscribe")
    assert resp.status == 400
    assert resp.json()["errorCode"] == "ERR_CONFIGURATION_UNSUBSCRIBE"


def test_metadata_lists_the_store(env: ConfigEnv) -> None:
    components = env.http("/v1.0/metadata").json()["components"]
    mine = [c for c in components if c["name"] == STORE]
    assert len(mine) == 1
    assert mine[0]["type"] == "configuration.file"
    assert mine[0]["version"] == "v1"


def test_the_log_has_no_traceback(env: ConfigEnv) -> None:
    """Runs last in this module: nothing above left a traceback (bad input, cancelled streams)."""
    assert "Traceback" not in env.sidecar.logs()
