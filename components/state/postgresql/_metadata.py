"""Metadata of ``state.postgresql`` and the parsing of its connection string.

Names match case-insensitively (see ``BaseMetadata``); empty values count as unset.

- ``connectionString`` (required): a ``postgresql://`` / ``postgres://`` URL or a libpq keyword
  string (``host=127.0.0.1 user=postgres dbname=test``). Keyword strings are converted to an
  asyncpg DSN. pgx pool settings (``pool_max_conns`` and friends) and ``connect_timeout`` are taken
  out of either form because asyncpg would send them to the server as settings;
  ``pool_max_conns`` becomes the pool size unless ``maxConns`` is set. libpq ``options``
  (``-c name=value``) become server settings.
- ``tableName`` (default ``state``) and ``metadataTableName`` (default ``tandem_metadata``): a name
  or ``schema.name``; every part must be a plain SQL identifier (letters, digits, ``_``, ``$``, not
  starting with a digit, at most 63 characters). Like unquoted identifiers in SQL they are folded
  to lower case; the store always quotes them.
- ``timeout`` (alias ``timeoutInSeconds``; Duration, default 20s): bound on every operation,
  including pool acquisition and reconnection.
- ``cleanupInterval`` (alias ``cleanupIntervalInSeconds``; Duration, default 1h; ``0`` disables):
  how often expired rows are deleted.
- ``maxConns`` (optional int >= 1): pool size (default 10).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from components._metadata import Duration
from components.base import BaseMetadata

__all__ = [
    "DEFAULT_MAX_CONNS",
    "ConnectionTarget",
    "PostgresMetadata",
    "parse_connection_string",
    "parse_keyword_string",
    "quote_table_name",
]

DEFAULT_MAX_CONNS = 10

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")

# Connection-string settings that asyncpg would otherwise forward to the server as GUCs.
_PGX_POOL_KEYS = frozenset(
    {
        "pool_max_conns",
        "pool_min_conns",
        "pool_min_idle_conns",
        "pool_max_conn_lifetime",
        "pool_max_conn_lifetime_jitter",
        "pool_max_conn_idle_time",
        "pool_health_check_period",
    }
)
_DROPPED_KEYS = frozenset({"connect_timeout"})


def _validate_table_name(value: str, what: str) -> str:
    parts = value.split(".")
    if len(parts) > 2 or not all(_IDENT.fullmatch(p) for p in parts):
        raise ValueError(
            f"invalid {what} {value!r}: expected name or schema.name made of letters, digits, "
            "'_' and '$' (not starting with a digit, at most 63 characters each)"
        )
    return ".".join(p.lower() for p in parts)


def quote_table_name(name: str) -> str:
    """SQL for a validated (``_validate_table_name``) table name: every part double-quoted."""
    return ".".join(f'"{part}"' for part in name.split("."))


# ---- connection strings --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionTarget:
    """What the store connects to: an asyncpg DSN plus what was taken out of the string."""

    dsn: str = field(repr=False)  # may hold the password
    description: str  # "host=... port=... dbname=... user=..." for messages; never the password
    max_conns: int | None = None
    server_settings: tuple[tuple[str, str], ...] = ()


def _read_value(text: str, i: int, item: int) -> tuple[str, int]:
    """The value starting at ``text[i]`` (quoted or bare) and the index after it.

    Errors about a connection string name the position of the offending item (its ordinal),
    never its text: a value may be, or contain, the password.
    """
    n = len(text)
    chars: list[str] = []
    quoted = i < n and text[i] == "'"
    if quoted:
        i += 1
    while True:
        if i >= n:
            if quoted:
                raise ValueError(
                    f"invalid connectionString: unterminated quote in the value of item {item}"
                )
            break
        c = text[i]
        if c == "\\" and i + 1 < n:
            chars.append(text[i + 1])
            i += 2
            continue
        if quoted and c == "'":
            i += 1
            break
        if not quoted and c.isspace():
            break
        chars.append(c)
        i += 1
    return "".join(chars), i


def parse_keyword_string(text: str) -> dict[str, str]:
    """Parse a libpq ``keyword=value`` string (values may be single-quoted, ``\\`` escapes).

    Error messages never quote the string (see ``_read_value``).
    """
    out: dict[str, str] = {}
    i, n = 0, len(text)
    item = 0
    while True:
        item += 1
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return out
        start = i
        while i < n and not text[i].isspace() and text[i] != "=":
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if not key or i >= n or text[i] != "=":
            raise ValueError(f"invalid connectionString: expected keyword=value at item {item}")
        i += 1
        while i < n and text[i].isspace():
            i += 1
        out[key.lower()], i = _read_value(text, i, item)


def _parse_options(options: str) -> list[tuple[str, str]]:
    """libpq ``options``: ``-c name=value`` / ``-cname=value`` / ``--name=value`` settings."""
    tokens = options.split()
    settings: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "-c" and i + 1 < len(tokens):
            spec, i = tokens[i + 1], i + 2
        elif tok.startswith(("-c", "--")) and len(tok) > 2:
            spec, i = tok[2:], i + 1
        else:
            raise ValueError("unsupported item in the connection options: use -c name=value")
        name, sep, value = spec.partition("=")
        if not sep or not name:
            raise ValueError("unsupported item in the connection options: use -c name=value")
        settings.append((name, value))
    return settings


def _split_extras(
    params: dict[str, str],
) -> tuple[dict[str, str], int | None, list[tuple[str, str]]]:
    """Take the pool / timeout / options keys out of ``params``."""
    kept: dict[str, str] = {}
    max_conns: int | None = None
    settings: list[tuple[str, str]] = []
    for key, value in params.items():
        low = key.lower()
        if low == "pool_max_conns":
            try:
                max_conns = int(value)
            except ValueError:
                raise ValueError("invalid pool_max_conns: expected an integer") from None
            if max_conns < 1:
                raise ValueError("pool_max_conns must be at least 1")
        elif low in _PGX_POOL_KEYS or low in _DROPPED_KEYS:
            continue
        elif low == "options":
            settings.extend(_parse_options(value))
        else:
            kept[key] = value
    return kept, max_conns, settings


def _describe(host: str | None, port: str | None, dbname: str | None, user: str | None) -> str:
    where = f"host={host or '(default)'}"
    if port:
        where += f" port={port}"
    return f"{where} dbname={dbname or '(default)'} user={user or '(default)'}"


def parse_connection_string(text: str) -> ConnectionTarget:
    """Turn a URL or libpq keyword string into a ``ConnectionTarget`` (raises ValueError)."""
    text = text.strip()
    if not text:
        raise ValueError("connectionString is empty")
    scheme = text.split(":", 1)[0].lower() if "://" in text else ""
    if scheme in {"postgresql", "postgres"}:
        parsed = urllib.parse.urlsplit(text)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        kept, max_conns, settings = _split_extras(query)
        dsn = urllib.parse.urlunsplit(
            (
                parsed.scheme,
                parsed.netloc,
                parsed.path,
                urllib.parse.urlencode({k: v for k, v in kept.items() if v != ""}),
                "",
            )
        )
        auth, _, hostspec = parsed.netloc.rpartition("@")
        description = _describe(
            kept.get("host") or urllib.parse.unquote(hostspec) or None,
            kept.get("port"),
            kept.get("dbname") or urllib.parse.unquote(parsed.path.lstrip("/")) or None,
            kept.get("user") or urllib.parse.unquote(auth.partition(":")[0]) or None,
        )
        return ConnectionTarget(dsn, description, max_conns, tuple(settings))
    if scheme:
        raise ValueError(
            "invalid connectionString scheme: expected postgresql:// or "
            "a keyword string such as 'host=127.0.0.1 user=postgres dbname=test'"
        )
    params = parse_keyword_string(text)
    if not params:
        raise ValueError("connectionString has no keyword=value pairs")
    kept, max_conns, settings = _split_extras(params)
    if "hostaddr" in kept:  # libpq: numeric address used instead of resolving host
        kept["host"] = kept.pop("hostaddr")
    # No path: asyncpg then takes dbname from the query (an empty path would mean database "").
    dsn = "postgresql://?" + urllib.parse.urlencode({k: v for k, v in kept.items() if v != ""})
    description = _describe(
        kept.get("host"), kept.get("port"), kept.get("dbname"), kept.get("user")
    )
    return ConnectionTarget(dsn, description, max_conns, tuple(settings))


# ---- metadata model ------------------------------------------------------------------------


class PostgresMetadata(BaseMetadata):
    """Typed metadata of ``state.postgresql`` (see the module docstring)."""

    # Second names Dapr also accepts (lower-cased) -> the field's alias.
    _EXTRA_ALIASES: ClassVar[dict[str, str]] = {
        "timeoutinseconds": "timeout",
        "cleanupintervalinseconds": "cleanupInterval",
    }

    connection_string: str = Field(alias="connectionString", repr=False)
    table_name: str = Field(default="state", alias="tableName")
    metadata_table_name: str = Field(default="tandem_metadata", alias="metadataTableName")
    timeout: Duration = Field(default=20.0, alias="timeout")
    cleanup_interval: Duration = Field(default=3600.0, alias="cleanupInterval")
    max_conns: int | None = Field(default=None, alias="maxConns")

    @model_validator(mode="before")
    @classmethod
    def _aliases_and_blanks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, str) and not value.strip() and key.lower() != "connectionstring":
                continue  # Dapr metadata uses "" for "not set"
            name = str(key)
            target = cls._EXTRA_ALIASES.get(name.lower(), name)
            if target != name and any(str(k).lower() == target.lower() for k in data):
                continue  # the primary name wins over its alias
            out[target] = value
        return out

    @classmethod
    def unknown_fields(cls, data: dict[str, Any]) -> list[str]:
        return [k for k in super().unknown_fields(data) if k.lower() not in cls._EXTRA_ALIASES]

    @field_validator("connection_string")
    @classmethod
    def _check_connection_string(cls, value: str) -> str:
        parse_connection_string(value)
        return value.strip()

    @field_validator("table_name")
    @classmethod
    def _check_table(cls, value: str) -> str:
        return _validate_table_name(value, "tableName")

    @field_validator("metadata_table_name")
    @classmethod
    def _check_metadata_table(cls, value: str) -> str:
        return _validate_table_name(value, "metadataTableName")

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("timeout must be positive")
        return value

    @field_validator("cleanup_interval")
    @classmethod
    def _check_cleanup(cls, value: float) -> float:
        if value < 0:
            raise ValueError("cleanupInterval must be 0 (disabled) or positive")
        return value

    @field_validator("max_conns")
    @classmethod
    def _check_max_conns(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("maxConns must be at least 1")
        return value

    @model_validator(mode="after")
    def _check_tables_differ(self) -> PostgresMetadata:
        if self.table_name == self.metadata_table_name:
            raise ValueError("tableName and metadataTableName must name different tables")
        return self

    def target(self) -> ConnectionTarget:
        """The parsed connection string (validated when the model was built)."""
        return parse_connection_string(self.connection_string)

    @property
    def pool_size(self) -> int:
        return self.max_conns or self.target().max_conns or DEFAULT_MAX_CONNS
