"""Reading resource folders (runtime/resources/loader.py): every problem, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.resources.issues import ConfigError, Issue
from runtime.resources.loader import (
    KNOWN_KINDS,
    collect_resources,
    load_resources,
    parse_documents,
)


def component(name: str, type_: str = "state.in-memory", extra: str = "") -> str:
    return (
        "apiVersion: dapr.io/v1alpha1\n"
        "kind: Component\n"
        f"metadata:\n  name: {name}\n"
        f"spec:\n  type: {type_}\n  version: v1\n{extra}"
    )


SUBSCRIPTION = """\
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: orders-sub
spec:
  pubsubname: pubsub
  topic: orders
  routes:
    default: /orders
"""

RESILIENCY = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: res
spec:
  policies: {}
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def load_errors(*paths: Path) -> list[Issue]:
    with pytest.raises(ConfigError) as info:
        load_resources(list(paths))
    return info.value.issues


def test_multi_document_file(tmp_path: Path) -> None:
    write(tmp_path, "all.yaml", component("a") + "---\n" + component("b") + "---\n")
    res = load_resources([tmp_path])
    assert [c.name for c in res.components] == ["a", "b"]
    assert [c.document for c in res.components] == [0, 1]
    assert all(c.source == str(tmp_path / "all.yaml") for c in res.components)


def test_yaml_and_yml_only(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", component("a"))
    write(tmp_path, "b.yml", component("b"))
    write(tmp_path, "notes.txt", "not: [yaml")
    write(tmp_path, "c.json", "{")
    assert sorted(c.name for c in load_resources([tmp_path]).components) == ["a", "b"]


def test_other_kinds_are_kept(tmp_path: Path) -> None:
    write(tmp_path, "mixed.yaml", component("a") + "---\n" + SUBSCRIPTION + "---\n" + RESILIENCY)
    res = load_resources([tmp_path])
    assert [c.name for c in res.components] == ["a"]
    assert set(res.others) == {"Subscription", "Resiliency"}
    sub = res.others["Subscription"][0]
    assert sub.body["spec"]["topic"] == "orders"
    assert sub.index == 1
    assert sub.source == str(tmp_path / "mixed.yaml")
    assert {"Component", "Subscription", "Resiliency", "Configuration"} <= KNOWN_KINDS


def test_several_folders(tmp_path: Path) -> None:
    write(tmp_path / "one", "a.yaml", component("a"))
    write(tmp_path / "two", "b.yaml", component("b"))
    res = load_resources([tmp_path / "one", tmp_path / "two"])
    assert [c.name for c in res.components] == ["a", "b"]


def test_single_file_path(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", component("a"))
    assert [c.name for c in load_resources([path]).components] == ["a"]


def test_empty_folder_and_empty_documents(tmp_path: Path) -> None:
    assert load_resources([tmp_path]).components == []
    write(tmp_path, "empty.yaml", "")
    write(tmp_path, "comments.yaml", "# nothing\n---\n---\n")
    assert load_resources([tmp_path]).components == []


def test_missing_path(tmp_path: Path) -> None:
    (issue,) = load_errors(tmp_path / "nope")
    assert issue.source == str(tmp_path / "nope")
    assert "does not exist" in issue.message


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", component("a") + "  metadata: [unclosed\n")
    (issue,) = load_errors(tmp_path)
    assert issue.source == str(path)
    assert "malformed YAML" in issue.message
    assert "line " in issue.message
    assert str(path) in str(issue)


def test_malformed_yaml_line_number_is_right(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", "kind: Component\nmetadata:\n  name: x\n\tspec: {}\n")
    (issue,) = load_errors(tmp_path)
    assert "line 4" in issue.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    write(tmp_path, "list.yaml", "- a\n- b\n")
    (issue,) = load_errors(tmp_path)
    assert "mapping" in issue.message
    assert issue.document == 0


@pytest.mark.parametrize("kind", ["HTTPEndpoint", "MCPServer", "Widget"])
def test_unknown_kind_is_skipped_with_a_warning(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """daprd skips kinds it does not load; so does Tandem, and says so with the file."""
    path = write(
        tmp_path,
        "k.yaml",
        component("a").replace("kind: Component", f"kind: {kind}") + "---\n" + component("b"),
    )
    res = load_resources([tmp_path])
    assert [c.name for c in res.components] == ["b"]
    assert [d.body["kind"] for d in res.skipped] == [kind]
    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert str(path) in record.getMessage()
    assert kind in record.getMessage()


def test_missing_kind_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "k.yaml", "apiVersion: dapr.io/v1alpha1\nmetadata: {name: a}\n")
    (issue,) = load_errors(tmp_path)
    assert issue.path == "kind"
    assert "missing kind" in issue.message


def test_duplicate_component_names_across_files(tmp_path: Path) -> None:
    first = write(tmp_path / "x", "first.yaml", component("store"))
    second = write(tmp_path / "y", "second.yaml", component("other") + "---\n" + component("store"))
    (issue,) = load_errors(tmp_path / "x", tmp_path / "y")
    assert issue.source == str(second)
    assert issue.document == 1
    assert issue.path == "metadata.name"
    assert "duplicate" in issue.message
    assert "'store'" in issue.message
    assert str(first) in issue.message


def test_duplicate_in_one_file(tmp_path: Path) -> None:
    write(tmp_path, "dup.yaml", component("s") + "---\n" + component("s"))
    (issue,) = load_errors(tmp_path)
    assert issue.document == 1
    assert "duplicate" in issue.message


def test_metadata_item_with_value_and_envref(tmp_path: Path) -> None:
    extra = (
        "  metadata:\n  - name: ok\n    value: v\n  - name: both\n    value: x\n    envRef: HOME\n"
    )
    path = write(tmp_path, "c.yaml", component("c", extra=extra))
    (issue,) = load_errors(tmp_path)
    assert issue.source == str(path)
    assert issue.path == "spec.metadata[1]"
    assert "only one of value, secretKeyRef, envRef" in issue.message


def test_metadata_item_unknown_field_and_missing_name(tmp_path: Path) -> None:
    extra = "  metadata:\n  - value: x\n  - name: a\n    vaule: typo\n"
    write(tmp_path, "c.yaml", component("c", extra=extra))
    paths = {i.path for i in load_errors(tmp_path)}
    assert "spec.metadata[0].name" in paths
    assert "spec.metadata[1].vaule" in paths


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (component("c", type_="Not A Type"), "spec.type"),
        (component("bad name!"), "metadata.name"),
        (component("c").replace("spec:\n  type: state.in-memory\n  version: v1\n", ""), "spec"),
        (component("c", extra="  initTimeout: soon\n"), "spec.initTimeout"),
        ("kind: Component\nmetadata:\n  name: c\nspec:\n  type: state.x\n", "apiVersion"),
    ],
)
def test_structural_errors_name_the_field(tmp_path: Path, text: str, path: str) -> None:
    write(tmp_path, "c.yaml", text)
    issues = load_errors(tmp_path)
    assert path in {i.path for i in issues}, issues


def test_every_error_is_collected(tmp_path: Path) -> None:
    write(tmp_path, "1-malformed.yaml", "kind: [\n")
    write(tmp_path, "2-nokind.yaml", "name: x\n")
    write(tmp_path, "3-badtype.yaml", component("x", type_="BAD"))
    write(tmp_path, "4-ok.yaml", component("fine"))
    write(tmp_path, "5-dup.yaml", component("fine"))
    with pytest.raises(ConfigError) as info:
        load_resources([tmp_path])
    issues = info.value.issues
    assert len(issues) >= 4
    sources = {Path(i.source).name for i in issues}
    assert sources == {"1-malformed.yaml", "2-nokind.yaml", "3-badtype.yaml", "5-dup.yaml"}
    text = str(info.value)
    assert f"{len(issues)} configuration error(s)" in text
    for name in sources:
        assert name in text


def test_errors_in_several_folders_are_collected(tmp_path: Path) -> None:
    write(tmp_path / "a", "x.yaml", "kind: [\n")
    write(tmp_path / "b", "y.yaml", "kind: [\n")
    issues = load_errors(tmp_path / "a", tmp_path / "b", tmp_path / "c")
    assert len(issues) == 3


def test_undecodable_file_is_an_issue(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"kind: \xff\xfe\n")
    (issue,) = load_errors(tmp_path)
    assert "cannot read" in issue.message


def test_issue_str_format() -> None:
    assert str(Issue("f.yaml", "boom", 2, "spec.type")) == "f.yaml (document 3) spec.type: boom"
    assert str(Issue("f.yaml", "boom")) == "f.yaml: boom"


def test_parse_documents_keeps_documents_before_a_syntax_error() -> None:
    issues: list[Issue] = []
    docs = parse_documents("a: 1\n---\nb: [\n", "f.yaml", issues)
    assert [d.body for d in docs] == [{"a": 1}]
    assert len(issues) == 1


def test_collect_resources_keeps_the_valid_documents(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", component("good") + "---\n" + component("bad", type_="BAD"))
    write(tmp_path, "b.yaml", "kind: [\n")
    resources, issues = collect_resources([tmp_path])
    assert [c.name for c in resources.components] == ["good"]
    assert {Path(i.source).name for i in issues} == {"a.yaml", "b.yaml"}


# Hostile resource files (issue 8): refused quickly, naming the file -------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_naming_the_file(tmp_path: Path) -> None:
    bomb = write(tmp_path, "bomb.yaml", billion_laughs())
    write(tmp_path, "ok.yaml", component("fine"))
    (issue,) = load_errors(tmp_path)
    assert issue.source == str(bomb)
    assert "refused" in issue.message
    assert "aliases" in issue.message


def test_alias_bomb_inside_a_component_is_refused(tmp_path: Path) -> None:
    text = component("a", extra="  metadata:\n  - name: x\n    value: *a8\n")
    bomb = write(tmp_path, "c.yaml", billion_laughs() + "---\n" + text)
    (issue,) = load_errors(tmp_path)
    assert issue.source == str(bomb)


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    extra = "  metadata:\n  - {name: host, value: &h localhost}\n  - {name: other, value: *h}\n"
    write(tmp_path, "c.yaml", component("a", extra=extra))
    (manifest,) = load_resources([tmp_path]).components
    assert [m.value for m in manifest.spec.metadata] == ["localhost", "localhost"]


@pytest.mark.parametrize("opener", ["[", "{a: "])
def test_deep_nesting_is_refused_naming_the_file(tmp_path: Path, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    deep = write(tmp_path, "deep.yaml", "x: " + opener * 100_000 + closer * 100_000 + "\n")
    (issue,) = load_errors(tmp_path)
    assert issue.source == str(deep)
    assert "nested more than" in issue.message


def test_deep_block_nesting_is_refused(tmp_path: Path) -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n"
    deep = write(tmp_path, "deep.yaml", text)
    (issue,) = load_errors(tmp_path)
    assert issue.source == str(deep)


def test_integer_past_the_digit_limit_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", component("a", extra="  initTimeout: " + "9" * 5000 + "\n"))
    (issue,) = load_errors(tmp_path)
    assert issue.source == str(path)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (".nan", "NaN"),
        (".inf", "range"),
        ("-.inf", "negative"),
        ("-5s", "negative"),
        ("-1", "negative"),
        ("99999999999999999999999", "range"),
        ("3000000h", "range"),
        ("1.0e+400", "range"),
        ("1e400", "duration"),
        ("true", "duration"),
        ("5 parsecs", "duration"),
    ],
)
def test_init_timeout_out_of_range_is_refused(tmp_path: Path, value: str, words: str) -> None:
    path = write(tmp_path, "c.yaml", component("a", extra=f"  initTimeout: {value}\n"))
    (issue,) = load_errors(tmp_path)
    assert issue.source == str(path)
    assert issue.path == "spec.initTimeout"
    assert words in issue.message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1h2m3.5s", 3723.5), ("500ms", 0.5), ("1us", 1e-6), ("1µs", 1e-6), ("30", 30.0)],
)
def test_init_timeout_go_durations(tmp_path: Path, value: str, seconds: float) -> None:
    write(tmp_path, "c.yaml", component("a", extra=f"  initTimeout: '{value}'\n"))
    (manifest,) = load_resources([tmp_path]).components
    assert manifest.spec.initTimeout == pytest.approx(seconds)
