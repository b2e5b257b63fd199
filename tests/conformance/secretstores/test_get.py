"""What every secret store does: Dapr's conformance (get, bulk get) and Tandem's rules on top.

Dapr's suite: ``conftestsecret`` reads exactly ``{conftestsecret: abcd}``; bulk holds it and
``secondsecret`` (extra secrets allowed). Tandem adds: a missing secret is None (not an
error), names are opaque (path tricks and glob patterns name nothing), request metadata a
store does not know is ignored, answers are the caller's own copies, and a multi-valued store
answers every key of a nested secret.
"""

from __future__ import annotations

import pytest

from components.secretstores import SecretStore, SecretStoreFeature
from tests.conformance._harness import requires
from tests.conformance.secretstores.conftest import MULTI, SECRETS


async def test_get_answers_the_secret_under_its_own_name(store: SecretStore) -> None:
    assert await store.get("conftestsecret", {}) == {"conftestsecret": "abcd"}
    assert await store.get("secondsecret", {}) == {"secondsecret": "efgh"}


async def test_bulk_holds_every_seeded_secret(store: SecretStore) -> None:
    found = await store.bulk_get({})
    for name, value in SECRETS.items():
        assert found[name] == {name: value}


async def test_a_missing_secret_is_none(store: SecretStore) -> None:
    assert await store.get("no-such-secret-anywhere", {}) is None


@pytest.mark.parametrize(
    "name",
    [
        "../conftestsecret",
        "./conftestsecret",
        "conftestsecret/..",
        "/conftestsecret",
        "conftest*",
        "*",
        "conftestsecre?",
        "[c]onftestsecret",
        "CONFTESTSECRET",
        "conftestsecret\x00",
        "",
        "x" * 5000,
    ],
    ids=lambda n: repr(n)[:20],
)
async def test_names_are_opaque_keys(store: SecretStore, name: str) -> None:
    assert await store.get(name, {}) is None


async def test_unknown_request_metadata_is_ignored(store: SecretStore) -> None:
    md = {"version_id": "1", "namespace": "other"}
    assert await store.get("conftestsecret", md) == {"conftestsecret": "abcd"}
    assert set(SECRETS) <= set(await store.bulk_get(md))


async def test_answers_are_the_callers_own_copies(store: SecretStore) -> None:
    first = await store.get("conftestsecret", {})
    assert first is not None
    first["conftestsecret"] = "changed"
    bulk = await store.bulk_get({})
    bulk["conftestsecret"]["conftestsecret"] = "changed"
    assert await store.get("conftestsecret", {}) == {"conftestsecret": "abcd"}


@requires(SecretStoreFeature.MULTIPLE_KEY_VALUES_PER_SECRET)
async def test_a_multi_valued_secret_answers_all_its_keys(store: SecretStore) -> None:
    assert await store.get("connectionStrings", {}) == MULTI
    assert (await store.bulk_get({}))["connectionStrings"] == MULTI
