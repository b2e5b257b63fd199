"""The evaluation engine against flagd's documented semantics, as a table of cases.

Case data written for Tandem from the facts of flagd 0.16 / flagd-core 2 and the flagd-testbed's
evaluator scenarios (reasons, code defaults, $ref, custom operators, both fractional
generations with their published vectors and hash edge keys). Each case: a flag definition, a
context, the accessor, and the expected (value, variant, reason, error code).
"""

from __future__ import annotations

from typing import Any

import pytest

from components.flags import ErrorCode, FlagType, Reason
from components.flags.engine import FlagSetError, evaluate, parse_flag_set, typed

_MISSING = object()  # "no value" (the caller's default)
BOOL = {"on": True, "off": False}
TF = {"true": True, "false": False}
SUITS = ["clubs", "diamonds", "hearts", "spades"]
KEY = "fractional-flag"  # the flag key of every case (the published vectors hash it)


def flag(variants: Any = None, default: Any = "on", targeting: Any = None, **extra: Any) -> Any:
    spec: dict[str, Any] = {
        "state": "ENABLED",
        "variants": BOOL if variants is None else variants,
        **extra,
    }
    if default is not None:
        spec["defaultVariant"] = default
    if targeting is not None:
        spec["targeting"] = targeting
    return spec


def suits(first: Any) -> Any:
    return flag(
        {s: s for s in SUITS},
        "clubs",
        {"fractional": [first, *[[s, 25] for s in SUITS]]},
    )


CAT_NAME = {"cat": [{"var": "$flagd.flagKey"}, {"var": "user.name"}]}
IF_EMAIL = {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on", "off"]}

# id: (flag, context, accessor, fractional, value, variant, reason, error)
CASES: dict[str, tuple[Any, dict[str, Any], FlagType, str, Any, Any, Reason, Any]] = {
    "static": (flag(), {}, FlagType.BOOLEAN, "v3", True, "on", Reason.STATIC, None),
    "empty targeting is static": (
        flag(targeting={}),
        {},
        FlagType.BOOLEAN,
        "v3",
        True,
        "on",
        Reason.STATIC,
        None,
    ),
    "no default variant is the code default": (
        flag(default=None),
        {},
        FlagType.BOOLEAN,
        "v3",
        _MISSING,
        None,
        Reason.DEFAULT,
        None,
    ),
    "empty default variant is the code default": (
        flag(default=""),
        {},
        FlagType.BOOLEAN,
        "v3",
        _MISSING,
        None,
        Reason.DEFAULT,
        None,
    ),
    "disabled": (
        {**flag(), "state": "DISABLED"},
        {},
        FlagType.BOOLEAN,
        "v3",
        _MISSING,
        None,
        Reason.DISABLED,
        None,
    ),
    "targeting match": (
        flag(targeting=IF_EMAIL),
        {"email": "a@example.com"},
        FlagType.BOOLEAN,
        "v3",
        True,
        "on",
        Reason.TARGETING_MATCH,
        None,
    ),
    "targeting else branch": (
        flag(targeting=IF_EMAIL),
        {"email": "a@other.org"},
        FlagType.BOOLEAN,
        "v3",
        False,
        "off",
        Reason.TARGETING_MATCH,
        None,
    ),
    "targeting null gives the default variant": (
        flag(default="off", targeting={"if": [{"var": "x"}, "on", None]}),
        {},
        FlagType.BOOLEAN,
        "v3",
        False,
        "off",
        Reason.DEFAULT,
        None,
    ),
    "targeting null without default variant": (
        flag(default=None, targeting={"if": [{"var": "x"}, "on", None]}),
        {},
        FlagType.BOOLEAN,
        "v3",
        _MISSING,
        None,
        Reason.DEFAULT,
        None,
    ),
    "boolean result names the variant true": (
        flag(TF, "false", {"==": [{"var": "tier"}, "gold"]}),
        {"tier": "gold"},
        FlagType.BOOLEAN,
        "v3",
        True,
        "true",
        Reason.TARGETING_MATCH,
        None,
    ),
    "unknown variant is a general error": (
        flag(targeting={"if": [True, "nope", "off"]}),
        {},
        FlagType.BOOLEAN,
        "v3",
        _MISSING,
        None,
        Reason.ERROR,
        ErrorCode.GENERAL,
    ),
    "unknown operator is a parse error": (
        flag(targeting={"no_such_op": [1]}),
        {},
        FlagType.BOOLEAN,
        "v3",
        _MISSING,
        None,
        Reason.ERROR,
        ErrorCode.PARSE_ERROR,
    ),
    "unresolved $ref is a parse error": (
        flag(targeting={"$ref": "missing"}),
        {},
        FlagType.BOOLEAN,
        "v3",
        _MISSING,
        None,
        Reason.ERROR,
        ErrorCode.PARSE_ERROR,
    ),
    "flagKey injected": (
        flag(targeting={"if": [{"==": [{"var": "$flagd.flagKey"}, KEY]}, "on", "off"]}),
        {},
        FlagType.BOOLEAN,
        "v3",
        True,
        "on",
        Reason.TARGETING_MATCH,
        None,
    ),
    "injected flagKey overrides the caller's": (
        flag(targeting={"if": [{"==": [{"var": "$flagd.flagKey"}, KEY]}, "on", "off"]}),
        {"$flagd": {"flagKey": "other"}},
        FlagType.BOOLEAN,
        "v3",
        True,
        "on",
        Reason.TARGETING_MATCH,
        None,
    ),
    "timestamp injected in seconds": (
        flag(targeting={"if": [{">": [{"var": "$flagd.timestamp"}, 1_600_000_000]}, "on", "off"]}),
        {},
        FlagType.BOOLEAN,
        "v3",
        True,
        "on",
        Reason.TARGETING_MATCH,
        None,
    ),
    "starts_with a non-string is null, so the else branch": (
        flag(targeting={"if": [{"starts_with": [{"var": "n"}, "1"]}, "on", "off"]}),
        {"n": 12},
        FlagType.BOOLEAN,
        "v3",
        False,
        "off",
        Reason.TARGETING_MATCH,
        None,
    ),
    "sem_ver with v prefix and padding": (
        flag(targeting={"if": [{"sem_ver": [{"var": "v"}, ">=", "1.2.0"]}, "on", "off"]}),
        {"v": "v1.2"},
        FlagType.BOOLEAN,
        "v3",
        True,
        "on",
        Reason.TARGETING_MATCH,
        None,
    ),
    "sem_ver pre-release sorts lower": (
        flag(targeting={"if": [{"sem_ver": [{"var": "v"}, "<", "2.0.0"]}, "on", "off"]}),
        {"v": "2.0.0-alpha"},
        FlagType.BOOLEAN,
        "v3",
        True,
        "on",
        Reason.TARGETING_MATCH,
        None,
    ),
    "sem_ver ignores build metadata": (
        flag(targeting={"if": [{"sem_ver": ["1.0.0+build", "=", "1.0.0+other"]}, "on", "off"]}),
        {},
        FlagType.BOOLEAN,
        "v3",
        True,
        "on",
        Reason.TARGETING_MATCH,
        None,
    ),
    "sem_ver caret and tilde": (
        flag(
            targeting={
                "if": [
                    {
                        "and": [
                            {"sem_ver": ["1.9.0", "^", "1.0.0"]},
                            {"sem_ver": ["1.2.9", "~", "1.2.0"]},
                        ]
                    },
                    "on",
                    "off",
                ]
            }
        ),
        {},
        FlagType.BOOLEAN,
        "v3",
        True,
        "on",
        Reason.TARGETING_MATCH,
        None,
    ),
    "sem_ver invalid version is null": (
        flag(default="off", targeting={"sem_ver": ["2.0.0.0", "=", "2.0.0"]}),
        {},
        FlagType.BOOLEAN,
        "v3",
        False,
        "off",
        Reason.DEFAULT,
        None,
    ),
    "sem_ver unknown operator is null": (
        flag(default="off", targeting={"sem_ver": ["1.0.0", "===", "1.0.0"]}),
        {},
        FlagType.BOOLEAN,
        "v3",
        False,
        "off",
        Reason.DEFAULT,
        None,
    ),
    # fractional: the published vectors (user.name jack/queen/ten, 4 x 25 suits)
    "fractional v2 jack": (
        suits(CAT_NAME),
        {"user": {"name": "jack"}},
        FlagType.STRING,
        "v2",
        "hearts",
        "hearts",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional v2 queen": (
        suits(CAT_NAME),
        {"user": {"name": "queen"}},
        FlagType.STRING,
        "v2",
        "spades",
        "spades",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional v2 ten": (
        suits(CAT_NAME),
        {"user": {"name": "ten"}},
        FlagType.STRING,
        "v2",
        "clubs",
        "clubs",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional v3 jack": (
        suits(CAT_NAME),
        {"user": {"name": "jack"}},
        FlagType.STRING,
        "v3",
        "diamonds",
        "diamonds",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional v3 queen": (
        suits(CAT_NAME),
        {"user": {"name": "queen"}},
        FlagType.STRING,
        "v3",
        "diamonds",
        "diamonds",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional v3 ten": (
        suits(CAT_NAME),
        {"user": {"name": "ten"}},
        FlagType.STRING,
        "v3",
        "clubs",
        "clubs",
        Reason.TARGETING_MATCH,
        None,
    ),
    # v2 hash edge keys: h = 0 lands in the first bucket, h = 2^32 - 1 in the last
    "fractional v2 hash 0": (
        flag({"a": "a", "b": "b"}, "a", {"fractional": ["ejOoVL", ["a", 50], ["b", 50]]}),
        {},
        FlagType.STRING,
        "v2",
        "a",
        "a",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional v2 hash 2^31-1": (
        flag({"a": "a", "b": "b"}, "a", {"fractional": ["SI7p-", ["a", 50], ["b", 50]]}),
        {},
        FlagType.STRING,
        "v2",
        "a",
        "a",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional v2 hash 2^31": (
        flag({"a": "a", "b": "b"}, "a", {"fractional": ["6LvT0", ["a", 50], ["b", 50]]}),
        {},
        FlagType.STRING,
        "v2",
        "b",
        "b",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional v2 hash 2^32-1": (
        flag({"a": "a", "b": "b"}, "a", {"fractional": ["ceQdGm", ["a", 50], ["b", 50]]}),
        {},
        FlagType.STRING,
        "v2",
        "b",
        "b",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional shorthand without targetingKey is the default": (
        flag({"a": "a", "b": "b"}, "a", {"fractional": [["a", 50], ["b", 50]]}),
        {},
        FlagType.STRING,
        "v3",
        "a",
        "a",
        Reason.DEFAULT,
        None,
    ),
    "fractional v2 shorthand without targetingKey is the default": (
        flag({"a": "a", "b": "b"}, "a", {"fractional": [["a", 50], ["b", 50]]}),
        {},
        FlagType.STRING,
        "v2",
        "a",
        "a",
        Reason.DEFAULT,
        None,
    ),
    "fractional single entry": (
        flag({"a": "a", "b": "b"}, "a", {"fractional": [["b"]]}),
        {"targetingKey": "u"},
        FlagType.STRING,
        "v3",
        "b",
        "b",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional all weights zero is null": (
        flag({"a": "a", "b": "b"}, "a", {"fractional": [["a", 0], ["b", 0]]}),
        {"targetingKey": "u"},
        FlagType.STRING,
        "v2",
        "a",
        "a",
        Reason.DEFAULT,
        None,
    ),
    "fractional negative weight clamped to zero": (
        flag({"a": "a", "b": "b"}, "a", {"fractional": [["a", -5], ["b", 1]]}),
        {"targetingKey": "u"},
        FlagType.STRING,
        "v2",
        "b",
        "b",
        Reason.TARGETING_MATCH,
        None,
    ),
    "fractional v2 number bucketing value is null": (
        flag({"a": "a", "b": "b"}, "a", {"fractional": [7, ["a", 50], ["b", 50]]}),
        {},
        FlagType.STRING,
        "v2",
        "a",
        "a",
        Reason.DEFAULT,
        None,
    ),
    "fractional as a condition": (
        flag(TF, "false", {"fractional": [[True, 1]]}),
        {"targetingKey": "u"},
        FlagType.BOOLEAN,
        "v3",
        True,
        "true",
        Reason.TARGETING_MATCH,
        None,
    ),
    # typed accessors
    "integer accessor takes an integral float": (
        flag({"ten": 10.0}, "ten"),
        {},
        FlagType.INTEGER,
        "v3",
        10,
        "ten",
        Reason.STATIC,
        None,
    ),
    "integer accessor refuses 3.14": (
        flag({"pi": 3.14}, "pi"),
        {},
        FlagType.INTEGER,
        "v3",
        _MISSING,
        None,
        Reason.ERROR,
        ErrorCode.TYPE_MISMATCH,
    ),
    "float accessor widens an integer": (
        flag({"one": 1}, "one"),
        {},
        FlagType.FLOAT,
        "v3",
        1.0,
        "one",
        Reason.STATIC,
        None,
    ),
    "boolean accessor refuses a string": (
        flag({"a": "x"}, "a"),
        {},
        FlagType.BOOLEAN,
        "v3",
        _MISSING,
        None,
        Reason.ERROR,
        ErrorCode.TYPE_MISMATCH,
    ),
    "integer accessor refuses a boolean": (
        flag(),
        {},
        FlagType.INTEGER,
        "v3",
        _MISSING,
        None,
        Reason.ERROR,
        ErrorCode.TYPE_MISMATCH,
    ),
    "object accessor": (
        flag({"o": {"k": [1, 2]}}, "o"),
        {},
        FlagType.OBJECT,
        "v3",
        {"k": [1, 2]},
        "o",
        Reason.STATIC,
        None,
    ),
    "disabled skips the type check": (
        {**flag(), "state": "DISABLED"},
        {},
        FlagType.STRING,
        "v3",
        _MISSING,
        None,
        Reason.DISABLED,
        None,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_case(name: str) -> None:
    spec, context, kind, generation, value, variant, reason, code = CASES[name]
    flags = parse_flag_set({"flags": {KEY: spec}}, fractional=generation)  # type: ignore[arg-type]
    res = typed(evaluate(flags[KEY], context), kind)
    assert (res.reason, res.error_code, res.variant) == (reason, code, variant)
    if value is _MISSING:
        assert not res.has_value
    else:
        assert res.has_value
        assert res.value == value
        assert type(res.value) is type(value)


def test_shared_evaluators_are_inlined() -> None:
    document = {
        "$evaluators": {"is_ex": {"ends_with": [{"var": "email"}, "@example.com"]}},
        "flags": {"f": flag(targeting={"if": [{"$ref": "is_ex"}, "on", "off"]})},
    }
    flags = parse_flag_set(document)
    assert evaluate(flags["f"], {"email": "a@example.com"}).variant == "on"
    assert "$ref" not in str(flags["f"].definition)


def test_flag_metadata_is_merged_over_the_flag_sets() -> None:
    document = {
        "metadata": {"flagSetId": "app", "team": "a", "version": "1"},
        "flags": {"f": flag(metadata={"team": "b"})},
    }
    res = evaluate(parse_flag_set(document)["f"], {})
    assert res.metadata == {"flagSetId": "app", "team": "b", "version": "1"}


def test_the_array_form_of_flags_is_accepted() -> None:
    flags = parse_flag_set({"flags": [{"key": "a", **flag()}, {"key": "b", **flag()}]})
    assert sorted(flags) == ["a", "b"]


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        (flag(default="nope"), "defaultVariant"),
        ({**flag(), "state": "ON"}, "state"),
        (flag(variants={}), "variants"),
        (flag(targeting=[1]), "targeting"),
        (flag(metadata={"k": [1]}), "metadata"),
    ],
)
def test_invalid_flags_are_refused_at_load(spec: Any, where: str) -> None:
    with pytest.raises(FlagSetError, match=rf"flags\.f.*{where}"):
        parse_flag_set({"flags": {"f": spec}})


def test_evaluation_does_not_modify_the_context() -> None:
    context = {"targetingKey": "u", "user": {"name": "jack"}}
    evaluate(parse_flag_set({"flags": {"f": suits(CAT_NAME)}})["f"], context)
    assert context == {"targetingKey": "u", "user": {"name": "jack"}}
