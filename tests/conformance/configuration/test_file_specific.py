"""``configuration.file`` beyond the shared contract: a file edited into something invalid keeps
the last good items (the log names the file and the line), and the next good edit applies."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from components.configuration import ConfigurationItem, ConfigurationStore
from components.configuration.file import FileFormatError, parse_items
from tests.conformance._harness import eventually
from tests.conformance.configuration.harness import Recorder, Updater


@pytest.fixture
def only_file(case: object) -> None:
    if getattr(case, "name", "") != "file":
        pytest.skip("configuration.file only")


@pytest.mark.usefixtures("only_file")
async def test_an_invalid_edit_keeps_the_last_good_items(
    store: ConfigurationStore,
    updater: Updater,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "configuration.yaml"
    await updater.set({"a": ("1", "v1")})
    await eventually(lambda: _has(store, "a"), within=5)
    seen = Recorder()
    await store.subscribe([], seen)

    with caplog.at_level(logging.ERROR):
        path.write_text("a: {value: 2\nb: [unclosed\n", encoding="utf-8")

        async def logged() -> bool:
            return any(str(path) in r.getMessage() for r in caplog.records)

        await eventually(logged, within=5, interval=0.02)
    message = next(r.getMessage() for r in caplog.records if str(path) in r.getMessage())
    assert "line " in message
    assert await store.get([]) == {"a": ConfigurationItem("1", "v1")}
    assert seen.batches == []

    await updater.set({"a": ("3", "v3")})  # a good edit applies again
    await eventually(lambda: _got(seen, "a", "3"), within=5, interval=0.02)


async def _has(store: ConfigurationStore, key: str) -> bool:
    return key in await store.get([key])


async def _got(seen: Recorder, key: str, value: str) -> bool:
    return seen.latest().get(key, ConfigurationItem()).value == value


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: [1\n", "line 2"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: {value: x, colour: red}\n", "unknown fields ['colour']"),
        ("a: {value: [1, 2]}\n", "expected a string, number or boolean"),
        ("a: 1\n---\nb: 2\n", "expected one document"),
        ("a: &x [1, *x]\n", "not list"),
    ],
)
def test_the_error_names_the_file_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(FileFormatError) as info:
        parse_items(text, "/etc/cfg.yaml")
    assert str(info.value).startswith("/etc/cfg.yaml")
    assert problem in str(info.value)


def test_scalars_and_items_are_read_as_text() -> None:
    items = parse_items(
        "flag: true\nlimit: 10\nratio: 0.5\nempty:\n"
        "full: {value: x, version: 3, metadata: {o: p}}\n",
        "f",
    )
    assert items == {
        "flag": ConfigurationItem("true"),
        "limit": ConfigurationItem("10"),
        "ratio": ConfigurationItem("0.5"),
        "empty": ConfigurationItem(""),
        "full": ConfigurationItem("x", "3", {"o": "p"}),
    }
