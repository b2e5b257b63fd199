"""Seeded generators of hostile but well-formed values, shared by the HTTP and gRPC fuzzers.

Everything comes from one ``random.Random``, so a run is reproduced by its seed. Values lean on
the edges where bugs live: empty and huge strings, NUL and control characters, non-ASCII and
the separator ``||``, integers at and past 32/64-bit limits, floats that JSON cannot carry, and
documents nested far deeper than any real one.
"""

from __future__ import annotations

import json
import random
from typing import Any

__all__ = ["STORE", "Values", "dumps", "mutate"]

STORE = "statestore"

_STRINGS = [
    "",
    " ",
    "a",
    "k",
    "statestore",
    "a||b",
    "||",
    "\x00",
    "a\x00b",
    "\x7f\x01\x1b[31m",
    "é",
    "日本語",
    "\U0001f600",
    "\u202e\u200b",
    "\ufeff",
    "%00",
    "%ff",
    "../..",
    "/",
    "a/b",
    "*",
    "?",
    "[",
    "\\",
    "%s%n{0}",
    "' OR '1'='1",
    '"; DROP TABLE state; --',
    "$.a",
    "NaN",
    "Infinity",
    "-1",
    "0",
    "1e999",
    "true",
    "null",
    "first-write",
    "last-write",
    "strong",
    "eventual",
    "upsert",
    "delete",
    "UPSERT",
    "ttlInSeconds",
    "contentType",
    "application/json",
]

_INTS = [
    0,
    1,
    -1,
    2,
    7,
    100,
    1000,
    2**31 - 1,
    2**31,
    -(2**31),
    2**32,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64,
    10**30,
    10**400,
]

_FLOATS = [0.0, -0.0, 0.5, 1e308, -1e308, 5e-324, 1e-400, 1.7976931348623157e308]


class Values:
    """Hostile values from one seeded ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def string(self, *, long: bool = True) -> str:
        r = self.rng.random()
        if r < 0.55:
            return self.rng.choice(_STRINGS)
        if r < 0.75:
            return f"k{self.rng.randrange(20)}"
        if r < 0.9 or not long:
            n = self.rng.choice([1, 2, 8, 64, 300])
            return "".join(
                chr(self.rng.choice([0, 9, 65, 97, 233, 0x3042, 0x1F600])) for _ in range(n)
            )
        return self.rng.choice(["x", "é", "\U0001f600", "||"]) * self.rng.choice(
            [1025, 3000, 70_000]
        )

    def key(self) -> str:
        if self.chance(0.7):
            return f"k{self.rng.randrange(20)}"
        return self.string()

    def store(self) -> str:
        if self.chance(0.85):
            return STORE
        return self.rng.choice(["", "nope", "STATESTORE", "state store", "\x00", "s" * 5000])

    def integer(self) -> int:
        return self.rng.choice(_INTS)

    def scalar(self) -> Any:
        r = self.rng.random()
        if r < 0.35:
            return self.string(long=False)
        if r < 0.65:
            return self.integer()
        if r < 0.8:
            return self.rng.choice(_FLOATS)
        return self.rng.choice([None, True, False])

    def json_value(self, depth: int = 0) -> Any:
        r = self.rng.random()
        if depth > 3 or r < 0.5:
            return self.scalar()
        if r < 0.75:
            return [self.json_value(depth + 1) for _ in range(self.rng.randrange(4))]
        return {
            self.string(long=False): self.json_value(depth + 1)
            for _ in range(self.rng.randrange(4))
        }

    def json_text(self) -> bytes:
        """JSON text (sometimes not quite JSON): a value, a deep nest or a float edge."""
        r = self.rng.random()
        if r < 0.6:
            return dumps(self.json_value())
        if r < 0.8:
            return self.deep()
        return self.rng.choice(
            [b"NaN", b"1e999", b"-Infinity", b'"\\ud800"', b'"\xff"', b"", b"{", b"[1,]"]
        )

    def deep(self) -> bytes:
        n = self.rng.choice([31, 33, 100, 999, 1000, 1001, 5000, 100_000])
        opener, closer = self.rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        return opener * n + b"1" + closer * n

    def metadata(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for _ in range(self.rng.randrange(3)):
            name = self.rng.choice(
                ["ttlInSeconds", "contentType", "partitionKey", "queryIndexName", self.string()]
            )
            value = self.rng.choice([str(self.integer()), self.string(), "-1", "0", "1.5", " 7 "])
            out[name] = value
        return out

    def query(self) -> bytes:
        """A query document: mostly well formed, with hostile shapes and values inside."""
        doc: dict[str, Any] = {}
        if self.chance(0.7):
            doc["filter"] = self.filter(0)
        if self.chance(0.4):
            doc["sort"] = self.rng.choice(
                [
                    [{"key": self.path(), "order": self.rng.choice(["ASC", "DESC", "x", 1])}],
                    True,
                    "key",
                    {"key": "a"},
                    [1],
                    [{"key": "a"}] * self.rng.choice([16, 17, 100]),
                ]
            )
        if self.chance(0.6):
            page: Any = {}
            if self.chance(0.8):
                page["limit"] = self.rng.choice([*_INTS, "5", 1.5, None, True])
            if self.chance(0.5):
                page["token"] = self.rng.choice(
                    ["3", "0", "-1", "9" * 25, "bzoz", "!!", "", 5, self.string()]
                )
            doc["page"] = page if self.chance(0.9) else self.rng.choice([[], "x", 5])
        if self.chance(0.05):
            doc[self.string(long=False)] = 1
        if self.chance(0.1):
            return self.rng.choice([b"[]", b"true", b"{", b"", dumps(self.json_value())])
        text = dumps(doc)
        if self.chance(0.08):  # a filter nested deeper than any JSON parser likes
            n = self.rng.choice([33, 500, 3000])
            text = b'{"filter":' + b'{"AND":[' * n + b'{"EQ":{"a":1}}' + b"]}" * n + b"}"
        return text

    def path(self) -> Any:
        return self.rng.choice(
            [
                *("a", "n", "a.b", "a" + ".a" * 15, "a" + ".a" * 16, "", "a..b", "$", "a[0]"),
                *(1, None, self.string(long=False)),
            ]
        )

    def filter(self, depth: int) -> Any:
        ops = ["EQ", "NEQ", "GT", "GTE", "LT", "LTE", "IN", "AND", "OR", "eq", "XOR"]
        op = self.rng.choice(ops)
        if op.upper() in ("AND", "OR") and depth < 4:
            n = self.rng.choice([0, 1, 2, 3, 1000, 1001])
            if n >= 10:  # wide: one leaf repeated (a wide node of wide nodes would explode)
                leaf = {self.rng.choice(["EQ", "NEQ", "GT"]): {self.path(): self.scalar()}}
                return {op: [leaf] * n}
            return {op: [self.filter(depth + 1) for _ in range(n)]}
        if op == "IN":
            n = self.rng.choice([0, 1, 3, 1001])
            return {op: {self.path(): [self.scalar() for _ in range(min(n, 3))] * max(1, n // 3)}}
        if self.chance(0.05):
            return self.rng.choice([True, [], {}, {"EQ": 1}, {"EQ": {"a": 1, "b": 2}}, "EQ"])
        value = self.json_value(2) if self.chance(0.1) else self.scalar()
        return {op: {self.path(): value}}


def dumps(value: Any) -> bytes:
    """JSON text of ``value``; floats JSON cannot carry come out as ``1e999`` (still sent)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    text = text.replace("-Infinity", "-1e999").replace("Infinity", "1e999").replace("NaN", "0")
    return text.encode("utf-8", "surrogatepass")


def mutate(v: Values, data: bytes) -> bytes:
    """``data`` with a few random byte-level edits (flip, cut, insert, duplicate)."""
    if not data:
        return bytes(v.rng.randrange(256) for _ in range(v.rng.randrange(1, 16)))
    buf = bytearray(data)
    for _ in range(v.rng.randrange(1, 4)):
        pos = v.rng.randrange(len(buf) or 1)
        op = v.rng.randrange(4)
        if op == 0 and buf:
            buf[pos % len(buf)] = v.rng.randrange(256)
        elif op == 1:
            del buf[pos:]
        elif op == 2:
            buf[pos:pos] = v.rng.choice([b"\x00", b"\xff", b'"', b"[", b"{", b"\\", b",", b"1e999"])
        else:
            buf[pos:pos] = buf[pos : pos + v.rng.randrange(1, 64)]
    return bytes(buf)
