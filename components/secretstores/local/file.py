"""``secretstores.local.file``: secrets from a JSON file, read once at ``init()`` (as Dapr).

Metadata (Dapr's names, case-insensitive):

- ``secretsFile`` (required): the JSON file. A relative path is relative to the sidecar's
  working directory, as daprd resolves it (``os.ReadFile``). Its top level must be an object.
- ``nestedSeparator`` (default ``:``): joins the names of nested objects and array indexes
  when the hierarchy is flattened.
- ``multiValued`` (bool, default false): false = name/value semantics, every leaf is its own
  secret (``{"db": {"user": "u"}}`` gives the secret ``db:user`` = ``{"db:user": "u"}``);
  true = each top-level entry is one secret whose keys are its flattened contents
  (``db`` = ``{"user": "u"}``), and declares ``MULTIPLE_KEY_VALUES_PER_SECRET``.

Leaves become strings as Dapr's do: ``true``/``false``, numbers without exponent or trailing
``.0``, ``null`` as an empty string. Nothing from the file's contents appears in an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.secretstores._api import SecretStoreFeature

__all__ = ["LocalFileSecretStore", "LocalFileSecretStoreMetadata", "flatten"]

MAX_FILE_BYTES = 16 << 20


class LocalFileSecretStoreMetadata(BaseMetadata):
    secrets_file: str = Field(alias="secretsFile", min_length=1)
    nested_separator: str = Field(default=":", alias="nestedSeparator")
    multi_valued: bool = Field(default=False, alias="multiValued")

    @field_validator("nested_separator", mode="before")
    @classmethod
    def _default_separator(cls, value: Any) -> Any:
        return ":" if value == "" else value


def _leaf(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float):  # Go's FormatFloat(f, 'f', -1, 64): shortest, no exponent
        exact = Decimal(repr(value))
        if exact == exact.to_integral_value():
            exact = exact.to_integral_value()
        return format(exact, "f")
    return str(value)


def flatten(value: object, path: str, separator: str, out: dict[str, str]) -> dict[str, str]:
    """Every leaf under ``value`` into ``out``, named ``path<sep>child...`` (``path`` may be
    empty: then children are named from the top)."""
    children: list[tuple[str, object]] | None = None
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = [(str(i), v) for i, v in enumerate(value)]
    if children is None:
        out[path] = _leaf(value)
        return out
    for name, child in children:
        flatten(child, f"{path}{separator}{name}" if path else name, separator, out)
    return out


class LocalFileSecretStore:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="secretstores.local.file")
    Metadata: ClassVar[type[BaseMetadata]] = LocalFileSecretStoreMetadata

    def __init__(
        self, metadata: LocalFileSecretStoreMetadata, *, context: ComponentContext
    ) -> None:
        self._md = metadata
        self._ctx = context
        self._secrets: dict[str, dict[str, str]] = {}

    def _read(self) -> dict[str, Any]:
        path = Path(self._md.secrets_file)
        where = f"secretstores.local.file {self._ctx.name}: secrets file {str(path)!r}"
        try:
            with path.open("rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise OSError(f"{where} cannot be read: {exc.strerror or type(exc).__name__}") from None
        if len(data) > MAX_FILE_BYTES:
            raise ValueError(f"{where} is larger than {MAX_FILE_BYTES >> 20} MiB")
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as exc:
            # JSONDecodeError's message holds a position, never the text; others say nothing
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not valid JSON"
            raise ValueError(f"{where} is not valid JSON: {detail}") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{where} must hold a JSON object at the top")  # noqa: TRY004
        return doc

    async def init(self) -> None:
        doc = self._read()
        sep = self._md.nested_separator
        secrets: dict[str, dict[str, str]] = {}
        if self._md.multi_valued:
            for name, value in doc.items():
                if isinstance(value, dict | list):
                    secrets[name] = flatten(value, "", sep, {})
                else:
                    secrets[name] = {name: _leaf(value)}
        else:
            for name, value in flatten(doc, "", sep, {}).items():
                secrets[name] = {name: value}
        self._secrets = secrets

    async def close(self) -> None:
        self._secrets = {}

    def features(self) -> frozenset[SecretStoreFeature]:
        if self._md.multi_valued:
            return frozenset({SecretStoreFeature.MULTIPLE_KEY_VALUES_PER_SECRET})
        return frozenset()

    async def get(self, name: str, metadata: Mapping[str, str]) -> dict[str, str] | None:
        found = self._secrets.get(name)
        return None if found is None else dict(found)

    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        return {name: dict(values) for name, values in self._secrets.items()}
