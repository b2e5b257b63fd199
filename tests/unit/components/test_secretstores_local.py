"""``secretstores.local.file`` and ``secretstores.local.env`` beyond the conformance cases:
Dapr's flattening and multi-valued rules, path resolution, the required env prefix, and
errors that never quote a file's contents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from components.base import ComponentContext
from components.secretstores.local.env import EnvSecretStore, EnvSecretStoreMetadata
from components.secretstores.local.file import (
    LocalFileSecretStore,
    LocalFileSecretStoreMetadata,
)

CANARY = "canary-7d1f0c"


def _ctx(tmp: Path) -> ComponentContext:
    return ComponentContext(name="s", app_id="a", namespace="default", home=tmp)


async def _file_store(tmp: Path, doc: Any, **md: str) -> LocalFileSecretStore:
    path = tmp / "s.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    meta = LocalFileSecretStoreMetadata.model_validate({"secretsFile": str(path), **md})
    store = LocalFileSecretStore(meta, context=_ctx(tmp))
    await store.init()
    return store


DOC = {
    "redisPassword": "pw",
    "connectionStrings": {"sql": "s", "mysql": "m", "deep": {"x": "y"}},
    "list": ["a", {"b": "c"}],
    "flag": True,
    "n": 1.0,
    "f": 0.5,
    "big": 1e21,
    "none": None,
}


async def test_flattening_joins_nested_names_and_array_indexes(tmp_path: Path) -> None:
    store = await _file_store(tmp_path, DOC)
    found = await store.bulk_get({})
    assert {k: v[k] for k, v in found.items()} == {
        "redisPassword": "pw",
        "connectionStrings:sql": "s",
        "connectionStrings:mysql": "m",
        "connectionStrings:deep:x": "y",
        "list:0": "a",
        "list:1:b": "c",
        "flag": "true",
        "n": "1",
        "f": "0.5",
        "big": "1000000000000000000000",
        "none": "",
    }
    assert await store.get("connectionStrings", {}) is None
    assert store.features() == frozenset()


async def test_custom_separator(tmp_path: Path) -> None:
    store = await _file_store(tmp_path, DOC, nestedSeparator=".")
    assert await store.get("connectionStrings.deep.x", {}) == {"connectionStrings.deep.x": "y"}
    assert await store.get("connectionStrings:sql", {}) is None


async def test_multi_valued_keeps_one_level(tmp_path: Path) -> None:
    store = await _file_store(tmp_path, DOC, multiValued="true")
    assert await store.get("connectionStrings", {}) == {
        "sql": "s",
        "mysql": "m",
        "deep:x": "y",
    }
    assert await store.get("redisPassword", {}) == {"redisPassword": "pw"}
    assert await store.get("list", {}) == {"0": "a", "1:b": "c"}
    assert await store.get("connectionStrings:sql", {}) is None
    assert [str(f) for f in store.features()] == ["MULTIPLE_KEY_VALUES_PER_SECRET"]


async def test_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.json").write_text('{"a": "b"}')
    monkeypatch.chdir(tmp_path)
    meta = LocalFileSecretStoreMetadata.model_validate({"secretsFile": "sub/s.json"})
    store = LocalFileSecretStore(meta, context=_ctx(tmp_path / "elsewhere"))
    await store.init()
    assert await store.get("a", {}) == {"a": "b"}


async def test_secrets_are_read_once_at_init(tmp_path: Path) -> None:
    store = await _file_store(tmp_path, {"a": "b"})
    (tmp_path / "s.json").write_text('{"a": "changed"}')
    assert await store.get("a", {}) == {"a": "b"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (f'{{"a": "{CANARY}", ', "not valid JSON"),
        (f'["{CANARY}"]', "must hold a JSON object"),
        (f'"{CANARY}"', "must hold a JSON object"),
        (b"\xff\xfe" + CANARY.encode(), "not valid JSON"),
    ],
)
async def test_a_bad_file_is_refused_without_quoting_it(
    tmp_path: Path, content: str | bytes, expected: str
) -> None:
    path = tmp_path / "s.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    meta = LocalFileSecretStoreMetadata.model_validate({"secretsFile": str(path)})
    with pytest.raises(ValueError, match=expected) as info:
        await LocalFileSecretStore(meta, context=_ctx(tmp_path)).init()
    assert CANARY not in str(info.value)
    assert str(path) in str(info.value)


async def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    meta = LocalFileSecretStoreMetadata.model_validate({"secretsFile": str(tmp_path / "no.json")})
    with pytest.raises(OSError, match=r"no\.json.*cannot be read"):
        await LocalFileSecretStore(meta, context=_ctx(tmp_path)).init()


def test_secrets_file_is_required() -> None:
    with pytest.raises(ValidationError, match="secretsFile"):
        LocalFileSecretStoreMetadata.model_validate({})


# ---- secretstores.local.env ------------------------------------------------------------------


@pytest.mark.parametrize("md", [{}, {"prefix": ""}, {"prefix": "  "}])
def test_env_store_requires_a_prefix(md: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="prefix"):
        EnvSecretStoreMetadata.model_validate(md)


async def _env_store(tmp: Path, prefix: str) -> EnvSecretStore:
    store = EnvSecretStore(
        EnvSecretStoreMetadata.model_validate({"prefix": prefix}), context=_ctx(tmp)
    )
    await store.init()
    return store


async def test_env_store_reads_only_under_its_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UTEST9_DB", "d")
    monkeypatch.setenv("UTEST9_EMPTY", "")
    monkeypatch.setenv("UTEST9X", "not-under-the-prefix")
    monkeypatch.setenv("OTHER_DB", "o")
    store = await _env_store(tmp_path, "UTEST9_")
    assert await store.get("DB", {}) == {"DB": "d"}
    assert await store.get("EMPTY", {}) == {"EMPTY": ""}
    assert await store.get("db", {}) is None  # case-sensitive, as on Linux in Dapr
    assert await store.get("UTEST9_DB", {}) is None
    assert await store.get("../OTHER_DB", {}) is None
    assert await store.bulk_get({}) == {"DB": {"DB": "d"}, "EMPTY": {"EMPTY": ""}}
    monkeypatch.setenv("UTEST9_LATER", "l")
    assert await store.get("LATER", {}) == {"LATER": "l"}  # read on each call


async def test_env_store_never_exposes_dapr_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAPR_API_TOKEN", CANARY)
    monkeypatch.setenv("DAPR_X", "x")
    store = await _env_store(tmp_path, "D")
    assert await store.get("APR_API_TOKEN", {}) is None
    assert CANARY not in json.dumps(await store.bulk_get({}))
    with pytest.raises(ValueError, match="never secrets"):
        await _env_store(tmp_path, "DAPR_")
    with pytest.raises(ValueError, match="never secrets"):
        await _env_store(tmp_path, "APP_API_TOKEN")
